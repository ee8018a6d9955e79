package transport_test

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/clicktocall/clicktocall/transport"
)

// slowEndpoint holds the read loop that posts to it, as a call actor with
// a backlog would.
type slowEndpoint struct{ hold time.Duration }

func (s slowEndpoint) Post(any) { time.Sleep(s.hold) }

func TestLagProbeSeesTheReadLoopFallBehind(t *testing.T) {
	tr := newTransport(t, transport.Options{IPAddress: "127.0.0.1"})
	p, err := tr.StartLagProbe(10 * time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	time.Sleep(100 * time.Millisecond)
	if idle := p.Lag(); idle > 100*time.Millisecond {
		t.Errorf("lag %v on an idle transport", idle)
	}

	// A message whose handling holds the read loop for 400 ms: the probes
	// behind it wait.
	tr.Register("slow@test", slowEndpoint{400 * time.Millisecond})
	phone, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer phone.Close()
	server, err := net.ResolveUDPAddr("udp", tr.Addr())
	if err != nil {
		t.Fatal(err)
	}
	msg := fmt.Sprintf("INFO sip:clicktocall@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bKslow1\r\n"+
		"From: <sip:phone@127.0.0.1>;tag=a\r\nTo: <sip:clicktocall@127.0.0.1>;tag=b\r\nCall-ID: slow@test\r\n"+
		"CSeq: 1 INFO\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n", tr.Addr(), phone.LocalAddr())
	p.Lag() // forget the idle measurements
	if _, err := phone.WriteToUDP([]byte(msg), server); err != nil {
		t.Fatal(err)
	}
	time.Sleep(600 * time.Millisecond)
	if behind := p.Lag(); behind < 300*time.Millisecond {
		t.Errorf("lag %v while the read loop was held 400 ms", behind)
	}
	time.Sleep(100 * time.Millisecond)
	p.Lag()
	time.Sleep(100 * time.Millisecond)
	if after := p.Lag(); after > 100*time.Millisecond {
		t.Errorf("lag %v once the read loop caught up", after)
	}
}

func TestRetransmissionsAreCounted(t *testing.T) {
	tr := newTransport(t, transport.Options{IPAddress: "127.0.0.1"})
	silent, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	before := tr.Retransmissions()
	a := silent.LocalAddr().(*net.UDPAddr)
	req := sip.NewRequest(sip.OPTIONS, sip.Uri{Scheme: "sip", User: "silent", Host: a.IP.String(), Port: a.Port})
	// T1 is 50 ms in these tests: Timer E fires at 50, 150, 350 ms.
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	if _, err := tr.Do(ctx, req); err == nil {
		t.Fatal("a silent peer answered")
	}
	if n := tr.Retransmissions() - before; n < 2 || n > 4 {
		t.Errorf("%d retransmissions to a silent peer in 400 ms, want 3", n)
	}
}

func TestLagProbesAreNotCountedAsSIPTraffic(t *testing.T) {
	var counted atomic.Int64
	tr := newTransport(t, transport.Options{IPAddress: "127.0.0.1",
		OnMessage: func(direction, kind string) { counted.Add(1) }})
	p, err := tr.StartLagProbe(5 * time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	time.Sleep(100 * time.Millisecond)
	if lag := p.Lag(); lag == 0 || lag > 100*time.Millisecond {
		t.Errorf("lag %v: the probes were not answered", lag)
	}
	if n := counted.Load(); n != 0 {
		t.Errorf("%d probe messages counted as SIP traffic", n)
	}
}
