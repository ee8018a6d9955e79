package transport

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"
)

// The raw sender delivers to both families, with the port in network
// byte order, and leaves zoned addresses to the net package.
func TestUDPSenderDelivers(t *testing.T) {
	for _, network := range []string{"udp4", "udp6"} {
		t.Run(network, func(t *testing.T) {
			from, to := loopbackUDP(t, network), loopbackUDP(t, network)
			s := newUDPSender(from)
			if s == nil {
				t.Fatal("no raw sender for a UDP socket")
			}
			msg := []byte("OPTIONS sip:x SIP/2.0\r\n\r\n")
			handled, err := s.send(msg, to.LocalAddr().(*net.UDPAddr).AddrPort())
			if !handled || err != nil {
				t.Fatalf("send: handled %v, err %v", handled, err)
			}
			_ = to.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 100)
			n, src, err := to.ReadFromUDPAddrPort(buf)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf[:n], msg) {
				t.Fatalf("got %q, want %q", buf[:n], msg)
			}
			if want := from.LocalAddr().(*net.UDPAddr).AddrPort(); src.Port() != want.Port() {
				t.Fatalf("from port %d, want %d", src.Port(), want.Port())
			}
			zoned := netip.AddrPortFrom(netip.MustParseAddr("fe80::1%lo"), 5060)
			if handled, _ := s.send(msg, zoned); handled {
				t.Fatal("a zoned address was not left to the net package")
			}
		})
	}
}

// A send allocates nothing: it runs for every datagram the server sends.
func TestUDPSenderAllocatesNothing(t *testing.T) {
	from, to := loopbackUDP(t, "udp4"), loopbackUDP(t, "udp4")
	s := newUDPSender(from)
	dst := to.LocalAddr().(*net.UDPAddr).AddrPort()
	msg := []byte("x")
	if allocs := testing.AllocsPerRun(100, func() {
		if _, err := s.send(msg, dst); err != nil {
			t.Fatal(err)
		}
	}); allocs > 0 {
		t.Errorf("%v allocations per send, want 0", allocs)
	}
}

// The read loop's raw reader gives each datagram whole, with the sender's
// address and port, in both families.
func TestRawReaderReadsWithTheSender(t *testing.T) {
	for _, network := range []string{"udp4", "udp6"} {
		t.Run(network, func(t *testing.T) {
			from, to := loopbackUDP(t, network), loopbackUDP(t, network)
			r := rawReader(to)
			if _, ok := r.(*rawPacketConn); !ok {
				t.Fatalf("rawReader gave %T", r)
			}
			msg := []byte("SIP/2.0 200 OK\r\n\r\n")
			if _, err := from.WriteTo(msg, to.LocalAddr()); err != nil {
				t.Fatal(err)
			}
			_ = to.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 100)
			n, src, err := r.ReadFrom(buf)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf[:n], msg) {
				t.Fatalf("got %q, want %q", buf[:n], msg)
			}
			want := from.LocalAddr().(*net.UDPAddr)
			if got := src.(*net.UDPAddr); !got.IP.Equal(want.IP) || got.Port != want.Port {
				t.Fatalf("from %v, want %v", got, want)
			}
			// A read waits on the poller for the next datagram, and a
			// closed socket ends it with net.ErrClosed, as sipgo expects.
			done := make(chan error, 1)
			go func() { _, _, err := r.ReadFrom(buf); done <- err }()
			time.Sleep(20 * time.Millisecond)
			to.Close()
			select {
			case err := <-done:
				if !errors.Is(err, net.ErrClosed) {
					t.Fatalf("read after close: %v, want net.ErrClosed", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("a read on a closed socket did not return")
			}
		})
	}
}
