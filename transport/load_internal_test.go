package transport

import (
	"net"
	"testing"
	"time"
)

// A probe whose successor is answered first was dropped by a full receive
// queue: it stops counting, so the lag is the queue's wait, not the age of
// a datagram that will never be answered.
func TestLagProbeForgetsAProbeOvertakenByItsSuccessor(t *testing.T) {
	sock, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	p := &LagProbe{socks: []*net.UDPConn{sock}, pending: map[uint64]sentProbe{}, stop: make(chan struct{})}
	p.wg.Add(1)
	go p.read(0, sock)
	defer p.Close()
	now := time.Now()
	p.mu.Lock()
	p.pending[1] = sentProbe{at: now.Add(-time.Second), sock: 0} // lost
	p.pending[2] = sentProbe{at: now.Add(-5 * time.Millisecond), sock: 0}
	p.pending[3] = sentProbe{at: now, sock: 1} // another socket's: still waiting
	p.mu.Unlock()

	answer := []byte("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=" + probeBranch + "2;rport\r\n\r\n")
	peer, err := net.DialUDP("udp", nil, sock.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	if _, err := peer.Write(answer); err != nil {
		t.Fatal(err)
	}
	end := time.Now().Add(5 * time.Second)
	for {
		p.mu.Lock()
		_, waiting := p.pending[2]
		p.mu.Unlock()
		if !waiting {
			break
		}
		if time.Now().After(end) {
			t.Fatal("the answer was not taken")
		}
		time.Sleep(time.Millisecond)
	}
	p.mu.Lock()
	_, lost := p.pending[1]
	_, other := p.pending[3]
	p.mu.Unlock()
	if lost || !other {
		t.Fatalf("pending after the answer to 2: probe 1 %v (want forgotten), probe 3 %v (want kept)", lost, other)
	}
	if lag := p.Lag(); lag >= time.Second || lag < 5*time.Millisecond {
		t.Errorf("lag %v, want the answered probe's few ms", lag)
	}
}
