package transport

import (
	"math"
	"math/bits"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// PeerDelays measures how much later than usual the peers answer the
// server's requests: the first response to each client transaction that
// was not retransmitted (Karn's rule: an answer to a retransmitted request
// says nothing about the delay), less that peer's usual delay. A peer
// that answers late is a peer, or a path to it, that is behind; when the
// server is the cause (it shares the machine or the network with its
// phones, or keeps a downstream proxy busy) admitting fewer calls is what
// helps, and the governor reads Excess to do so. An INVITE's first
// response counts when it is provisional, or a final one within
// machineAnswer: a later final may have waited for a person to answer,
// while one that quick came from a machine (an IVR, a voicemail, a test
// phone), whose answer is the call's first and earliest sign of its load.
//
// Each peer's usual delay, for its INVITEs and for its other requests
// apart (a phone's stack may send 100 Trying sooner than it answers a
// REFER), is the least it has shown, drifting up towards what it shows now
// with a time constant of baseDrift, so a peer that has moved further away
// stops looking late after a few minutes and an overload of a minute is
// still seen whole. The peers remembered are bounded: past maxPeers the
// table is cleared and learns again. Nothing is recorded until Watch.
type PeerDelays struct {
	watching atomic.Bool
	mu       sync.Mutex
	base     map[peerKey]peerBase
	counts   [excessBuckets]uint32 // excess delays since the last Excess, by bucket
	samples  int
}

type peerKey struct {
	addr   netip.AddrPort
	invite bool
}

type peerBase struct {
	usual time.Duration
	seen  time.Time
}

const (
	// machineAnswer: no person takes a ringing phone this quickly.
	machineAnswer = 200 * time.Millisecond
	baseDrift     = 5 * time.Minute
	maxPeers      = 20000
	// excessBuckets are the histogram's: 0 for under excessUnit, then two
	// a doubling (from 1 and 1.5 times a power of two times the unit), the
	// last from about 52 s.
	excessBuckets = 40
	excessUnit    = 100 * time.Microsecond
)

func newPeerDelays() *PeerDelays {
	return &PeerDelays{base: make(map[peerKey]peerBase)}
}

// Watch starts the recording; the governor calls it when it reads Excess.
func (p *PeerDelays) Watch() { p.watching.Store(true) }

// record notes that peer answered an INVITE (or another request) after
// d, at now.
func (p *PeerDelays) record(peer netip.AddrPort, invite bool, d time.Duration, now time.Time) {
	if d < 0 || !p.watching.Load() {
		return
	}
	key := peerKey{peer, invite}
	p.mu.Lock()
	defer p.mu.Unlock()
	b, ok := p.base[key]
	switch {
	case !ok:
		if len(p.base) >= maxPeers {
			clear(p.base)
		}
		b.usual = d
	case d < b.usual:
		b.usual = d
	default:
		drift := min(1, float64(now.Sub(b.seen))/float64(baseDrift))
		b.usual += time.Duration(drift * float64(d-b.usual))
	}
	b.seen = now
	p.base[key] = b
	p.counts[excessBucket(d-b.usual)]++
	p.samples++
}

// excessBucket is the histogram bucket of an excess delay.
func excessBucket(d time.Duration) int {
	u := uint64(d / (excessUnit / 2)) // in half units, so √2 steps start at the unit
	if u < 2 {
		return 0
	}
	// Two buckets per power of two: the top bit and the one below it.
	n := bits.Len64(u) - 1
	half := int(u>>(n-1)) & 1
	return min(excessBuckets-1, 2*n-1+half)
}

// bucketFloor is the least excess delay in bucket i.
func bucketFloor(i int) time.Duration {
	if i == 0 {
		return 0
	}
	n := (i + 1) / 2
	f := float64(uint64(1) << n)
	if i%2 == 0 {
		f *= 1.5
	}
	return time.Duration(f * float64(excessUnit/2))
}

// Excess returns the q quantile (0 < q < 1) of the excess delays recorded
// since the last call that had at least minSamples, rounded down to its
// histogram bucket, and how many there were. With fewer it returns 0 and
// keeps them for the next call.
func (p *PeerDelays) Excess(q float64, minSamples int) (time.Duration, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.samples
	if n == 0 || n < minSamples {
		return 0, n
	}
	rank := int(math.Ceil(q * float64(n)))
	var d time.Duration
	seen := 0
	for i, c := range p.counts {
		seen += int(c)
		if seen >= rank {
			d = bucketFloor(i)
			break
		}
	}
	p.counts = [excessBuckets]uint32{}
	p.samples = 0
	return d, n
}

// Reset forgets the delays recorded since the last Excess.
func (p *PeerDelays) Reset() {
	p.mu.Lock()
	p.counts = [excessBuckets]uint32{}
	p.samples = 0
	p.mu.Unlock()
}

// PeerDelays is the transport's measure of its peers' answers.
func (t *Transport) PeerDelays() *PeerDelays { return t.peers }
