package phone

import (
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
)

// lossyConn loses a share of the datagrams it reads and writes, chosen at
// random from a seed: the Wi-Fi link or NAT of a phone that drops packets,
// both ways, for tests of retransmission.
type lossyConn struct {
	net.PacketConn
	loss    float64
	mu      sync.Mutex
	rng     *rand.Rand
	dropped *atomic.Int64
}

func newLossyConn(c net.PacketConn, loss float64, seed uint64, dropped *atomic.Int64) *lossyConn {
	return &lossyConn{PacketConn: c, loss: loss, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), dropped: dropped}
}

func (c *lossyConn) lose() bool {
	c.mu.Lock()
	lost := c.rng.Float64() < c.loss
	c.mu.Unlock()
	if lost {
		c.dropped.Add(1)
	}
	return lost
}

// ReadFrom returns the next datagram that is not lost.
func (c *lossyConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(b)
		if err != nil || !c.lose() {
			return n, addr, err
		}
	}
}

// WriteTo sends b unless it is lost, which the sender cannot tell.
func (c *lossyConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if c.lose() {
		return len(b), nil
	}
	return c.PacketConn.WriteTo(b, addr)
}

// Lost is how many datagrams the phone has lost to Config.Loss, both ways.
func (p *Phone) Lost() int64 { return p.lost.Load() }
