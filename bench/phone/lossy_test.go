package phone

import (
	"net"
	"sync/atomic"
	"testing"
	"time"
)

func TestLossyConnLosesItsShareBothWays(t *testing.T) {
	a, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var lost atomic.Int64
	lossy := newLossyConn(a, 0.1, 7, &lost)
	const n = 2000
	got := make(chan int)
	go func() { // b counts what lossy sent
		buf := make([]byte, 16)
		count := 0
		for {
			_ = b.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			if _, _, err := b.ReadFrom(buf); err != nil {
				got <- count
				return
			}
			count++
		}
	}()
	for range n {
		if _, err := lossy.WriteTo([]byte("x"), b.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Microsecond) // keep b's receive buffer from overflowing
	}
	delivered := <-got
	if share := float64(n-delivered) / n; share < 0.07 || share > 0.13 {
		t.Errorf("%d of %d datagrams lost on the way out, want about 10 %%", n-delivered, n)
	}
	// And on the way in: ReadFrom skips the lost ones.
	before := lost.Load()
	readDone := make(chan int)
	go func() {
		read := 0
		buf := make([]byte, 16)
		for {
			_ = a.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			if _, _, err := lossy.ReadFrom(buf); err != nil {
				readDone <- read
				return
			}
			read++
		}
	}()
	for range n {
		if _, err := b.WriteTo([]byte("y"), a.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Microsecond)
	}
	read := <-readDone
	if in := lost.Load() - before; in+int64(read) != n || float64(in)/n < 0.07 || float64(in)/n > 0.13 {
		t.Errorf("in: %d read, %d lost of %d", read, in, n)
	}
}
