package transport_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"github.com/clicktocall/clicktocall/internal/testpki"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/clicktocall/clicktocall/transport"
)

// streamPeer is a phone's TCP or TLS socket scripted byte by byte: it
// answers the first request 200 and then records every byte it receives.
type streamPeer struct {
	t     *testing.T
	ln    net.Listener
	bytes chan []byte // what arrives after the first request
}

func newStreamPeer(t *testing.T, tlsConf *tls.Config) *streamPeer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if tlsConf != nil {
		ln = tls.NewListener(ln, tlsConf)
	}
	p := &streamPeer{t: t, ln: ln, bytes: make(chan []byte, 1000)}
	t.Cleanup(func() { ln.Close() })
	go p.serve()
	return p
}

func (p *streamPeer) serve() {
	conn, err := p.ln.Accept()
	if err != nil {
		return
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	var req []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			break
		}
		req = append(req, line)
	}
	res := "SIP/2.0 200 OK\r\n"
	for _, h := range req[1:] {
		for _, name := range []string{"Via:", "From:", "To:", "Call-ID:", "CSeq:"} {
			if strings.HasPrefix(h, name) {
				res += h + "\r\n"
			}
		}
	}
	if _, err := io.WriteString(conn, res+"Content-Length: 0\r\n\r\n"); err != nil {
		return
	}
	for {
		buf := make([]byte, 1024)
		n, err := r.Read(buf)
		if n > 0 {
			p.bytes <- buf[:n]
		}
		if err != nil {
			return
		}
	}
}

func (p *streamPeer) uri(transport string) sip.Uri {
	a := p.ln.Addr().(*net.TCPAddr)
	u := sip.Uri{Scheme: "sip", User: "peer", Host: "127.0.0.1", Port: a.Port, UriParams: sip.NewParams()}
	u.UriParams.Add("transport", transport)
	return u
}

// collect returns what the peer received during d.
func (p *streamPeer) collect(d time.Duration) string {
	var got []byte
	end := time.After(d)
	for {
		select {
		case b := <-p.bytes:
			got = append(got, b...)
		case <-end:
			return string(got)
		}
	}
}

// sendOptions opens the connection: an OPTIONS the peer answers 200.
func sendOptions(t *testing.T, tr *transport.Transport, to sip.Uri) {
	t.Helper()
	req := sip.NewRequest(sip.OPTIONS, to)
	req.AppendHeader(tr.Contact("TCP"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := tr.Do(ctx, req)
	if err != nil {
		t.Fatalf("OPTIONS: %v", err)
	}
	if res.StatusCode != 200 {
		t.Fatalf("OPTIONS answered %d", res.StatusCode)
	}
}

// With keepalives on, each TCP or TLS connection the server opened carries
// a CRLFCRLF about every interval (80-100 % of it); with them off, nothing
// but SIP.
func TestKeepAlivesOnConnectionsTheServerOpens(t *testing.T) {
	ca := testpki.NewCA(t)
	peerCert, _, _ := ca.Issue(t, "127.0.0.1")
	const interval = 100 * time.Millisecond
	for _, tc := range []struct {
		transport string
		interval  time.Duration
	}{{"tcp", interval}, {"tls", interval}, {"tcp", 0}, {"tls", 0}} {
		t.Run(fmt.Sprintf("%s interval %v", tc.transport, tc.interval), func(t *testing.T) {
			var peerTLS *tls.Config
			if tc.transport == "tls" {
				peerTLS = &tls.Config{Certificates: []tls.Certificate{peerCert}}
			}
			peer := newStreamPeer(t, peerTLS)
			tr := tlsTransport(t, ca, transport.Options{IPAddress: "127.0.0.1", KeepAliveInterval: tc.interval})
			sendOptions(t, tr, peer.uri(tc.transport))
			got := peer.collect(10 * interval)
			if tc.interval == 0 {
				if got != "" {
					t.Fatalf("keepalives off, yet the peer got %q", got)
				}
				return
			}
			n := strings.Count(got, "\r\n\r\n")
			if strings.ReplaceAll(got, "\r\n\r\n", "") != "" || n < 5 || n > 13 {
				t.Fatalf("in %v the peer got %q: want only CRLFCRLF, about every %v", 10*interval, got, interval)
			}
		})
	}
}
