package transport_test

import (
	"log/slog"
	"net"
	"strings"
	"sync"
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

func TestOnMessageCountsWhatComesInAndGoesOut(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	tr, err := transport.New(transport.Options{IPAddress: "127.0.0.1", Logger: slog.New(slog.DiscardHandler),
		OnMessage: func(dir, kind string) { mu.Lock(); seen[dir+" "+kind]++; mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	local := conn.LocalAddr().String()
	msg := "OPTIONS sip:ctc@" + tr.Addr() + " SIP/2.0\r\nVia: SIP/2.0/UDP " + local + ";branch=z9hG4bKcount\r\n" +
		"From: <sip:probe@" + local + ">;tag=p\r\nTo: <sip:ctc@" + tr.Addr() + ">\r\nCall-ID: count\r\nCSeq: 1 OPTIONS\r\n" +
		"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
	server, _ := net.ResolveUDPAddr("udp", tr.Addr())
	if _, err := conn.WriteToUDP([]byte(msg), server); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := conn.ReadFromUDP(make([]byte, 65535)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if seen["in OPTIONS"] != 1 || seen["out 2xx"] != 1 {
		t.Fatalf("counted %v, want one OPTIONS in and one 2xx out", seen)
	}
}
