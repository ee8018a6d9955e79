package transport_test

import (
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/clicktocall/clicktocall/transport"
)

func TestMessagesOverMaxMessageSizeAreDropped(t *testing.T) {
	tr, err := transport.New(transport.Options{IPAddress: "127.0.0.1", MaxMessageSize: 1024,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	server, err := net.ResolveUDPAddr("udp", tr.Addr())
	if err != nil {
		t.Fatal(err)
	}
	options := func(id string, pad int) string {
		local := conn.LocalAddr().String()
		return "OPTIONS sip:ctc@" + server.String() + " SIP/2.0\r\n" +
			"Via: SIP/2.0/UDP " + local + ";branch=z9hG4bK" + id + "\r\n" +
			"From: <sip:probe@" + local + ">;tag=p\r\nTo: <sip:ctc@" + server.String() + ">\r\n" +
			"Call-ID: " + id + "\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n" +
			"Subject: " + strings.Repeat("x", pad) + "\r\nContent-Length: 0\r\n\r\n"
	}
	answered := func(msg string) bool {
		if _, err := conn.WriteToUDP([]byte(msg), server); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 65535)
		_ = conn.SetReadDeadline(time.Now().Add(700 * time.Millisecond))
		n, _, err := conn.ReadFromUDP(buf)
		return err == nil && strings.HasPrefix(string(buf[:n]), "SIP/2.0 200")
	}
	if answered(options("big", 2000)) {
		t.Error("a 2 KB OPTIONS was answered with max_message_size 1024")
	}
	if !answered(options("small", 10)) {
		t.Error("a small OPTIONS was not answered")
	}
}
