package transport_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clicktocall/clicktocall/transport"
)

// FuzzRouterDatagram sends arbitrary bytes as one UDP datagram to a running
// transport and then checks that it still answers an out-of-dialog OPTIONS
// with 200 and that no request handler panicked. Everything sipgo does with
// a datagram is exercised: its parser, the transaction layer and the router's
// out-of-dialog answers. Seeds: testdata/fuzz/FuzzRouterDatagram.
func FuzzRouterDatagram(f *testing.F) {
	f.Add([]byte("OPTIONS sip:ctc@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKseed\r\n" +
		"From: <sip:fuzz@127.0.0.1>;tag=1\r\nTo: <sip:ctc@127.0.0.1>\r\nCall-ID: seed\r\nCSeq: 1 OPTIONS\r\n" +
		"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"))
	// sipgo logs every unparsable datagram through the default logger.
	defer slog.SetDefault(slog.Default())
	slog.SetDefault(slog.New(slog.DiscardHandler))
	panics := &panicCounter{}
	tr, err := transport.New(transport.Options{IPAddress: "127.0.0.1",
		Logger: slog.New(panics)})
	if err != nil {
		f.Fatal(err)
	}
	defer tr.Close()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		f.Fatal(err)
	}
	defer conn.Close()
	server, err := net.ResolveUDPAddr("udp", tr.Addr())
	if err != nil {
		f.Fatal(err)
	}
	var probes atomic.Int64
	f.Fuzz(func(t *testing.T, datagram []byte) {
		if _, err := conn.WriteToUDP(datagram, server); err != nil && !isTooLong(err) {
			t.Fatal(err)
		}
		id := fmt.Sprintf("probe-%d", probes.Add(1))
		if code := optionsProbe(t, conn, server, id); code != 200 {
			t.Fatalf("OPTIONS after %q answered %d", datagram, code)
		}
		if n := panics.n.Load(); n > 0 {
			t.Fatalf("%d request handler panics after %q", n, datagram)
		}
	})
}

// isTooLong is the error for a datagram larger than UDP allows; the fuzzer
// may produce one, and it never reaches the server.
func isTooLong(err error) bool { return strings.Contains(err.Error(), "message too long") }

// optionsProbe sends an OPTIONS with this Call-ID and returns the status of
// its answer, skipping answers to anything else (retransmitted 403s to a
// fuzzed INVITE, say).
func optionsProbe(t *testing.T, conn *net.UDPConn, server *net.UDPAddr, callID string) int {
	t.Helper()
	local := conn.LocalAddr().String()
	req := "OPTIONS sip:ctc@" + server.String() + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + local + ";branch=z9hG4bK" + callID + "\r\n" +
		"From: <sip:probe@" + local + ">;tag=p\r\nTo: <sip:ctc@" + server.String() + ">\r\n" +
		"Call-ID: " + callID + "\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	buf := make([]byte, 65535)
	for attempt := 0; ctx.Err() == nil; attempt++ {
		// UDP may drop; resend like Timer E would.
		if _, err := conn.WriteToUDP([]byte(req), server); err != nil {
			t.Fatal(err)
		}
		resend := time.Now().Add(500 * time.Millisecond)
		for time.Now().Before(resend) {
			_ = conn.SetReadDeadline(resend)
			n, _, err := conn.ReadFromUDP(buf)
			if err != nil {
				break
			}
			msg := buf[:n]
			if !bytes.Contains(msg, []byte("Call-ID: "+callID+"\r\n")) {
				continue
			}
			var code int
			if _, err := fmt.Sscanf(string(msg), "SIP/2.0 %d", &code); err == nil {
				return code
			}
		}
	}
	t.Fatalf("no answer to OPTIONS %s", callID)
	return 0
}

// panicCounter is a log handler that counts the router's panic records.
type panicCounter struct {
	n atomic.Int64
}

func (h *panicCounter) Enabled(context.Context, slog.Level) bool { return true }

func (h *panicCounter) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "panic") {
		h.n.Add(1)
		r.Attrs(func(a slog.Attr) bool {
			fmt.Fprintf(os.Stderr, "router panic: %s=%v\n", a.Key, a.Value)
			return true
		})
	}
	return nil
}

func (h *panicCounter) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *panicCounter) WithGroup(string) slog.Handler      { return h }
