package transport

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Retransmissions is how many SIP messages the transport has sent again:
// requests its client transactions retransmitted (Timers A and E, over
// UDP), answers and ACKs sent again from the linger table because the peer
// repeated its request or its final response, and 2xx responses to
// re-INVITEs resent until their ACK. A server that answers late makes its
// peers retransmit, and its own retransmissions follow; the count is how
// the bench and /metrics tell.
func (t *Transport) Retransmissions() uint64 { return t.resent.Load() }

// LagProbe measures how late the transport handles what arrives on its UDP
// sockets, as a phone sees it: every interval it sends the transport an
// OPTIONS from a socket of its own and times the 200 that comes back. The
// time includes the wait in the kernel's receive queue, the read loop
// working through what came before (on this server the read loop also runs
// the call actors, so their backlog is in it too), and the scheduling of
// the probe's own reader on a busy machine. A probe unanswered for longer
// counts as that long, so a socket that has stopped draining shows at once;
// one whose successor is answered first was dropped (the receive queue was
// full: a socket is read in order) and no longer counts. Each probe is an
// OPTIONS the read loop answers like any other, but it is not counted as
// SIP traffic (Options.OnMessage) nor traced.
type LagProbe struct {
	interval time.Duration
	socks    []*net.UDPConn
	dests    []netip.AddrPort // the transport's UDP socket each sock probes

	mu      sync.Mutex
	seq     uint64
	pending map[uint64]sentProbe // by probe sequence
	worst   time.Duration        // since the last Lag

	stop chan struct{}
	wg   sync.WaitGroup
}

type sentProbe struct {
	at   time.Time
	sock int // index in socks
}

// probeForget is how long an unanswered probe is waited for; then it is
// dropped (it counted as this late meanwhile).
const probeForget = 2 * time.Second

// StartLagProbe starts probing every UDP socket of the transport every
// interval; Close stops it.
func (t *Transport) StartLagProbe(interval time.Duration) (*LagProbe, error) {
	p := &LagProbe{interval: interval, pending: map[uint64]sentProbe{}, stop: make(chan struct{})}
	for _, s := range t.stacks {
		if s == nil {
			continue
		}
		dst := s.bind
		if dst.IsUnspecified() {
			dst = netip.MustParseAddr("127.0.0.1")
			if s.fam == ipv6 {
				dst = netip.IPv6Loopback()
			}
		}
		sock, err := net.ListenUDP(network("udp", s.fam), net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, 0)))
		if err != nil {
			p.Close()
			return nil, fmt.Errorf("lag probe: %w", err)
		}
		p.socks = append(p.socks, sock)
		p.dests = append(p.dests, netip.AddrPortFrom(dst, uint16(t.port)))
	}
	for i, sock := range p.socks {
		p.wg.Add(1)
		go p.read(i, sock)
	}
	p.wg.Add(1)
	go p.send()
	return p, nil
}

// Lag is the worst lateness seen since the previous call: the longest time
// a probe took to be answered, or has been waiting.
func (p *LagProbe) Lag() time.Duration {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	worst := p.worst
	for seq, sent := range p.pending {
		age := now.Sub(sent.at)
		worst = max(worst, age)
		if age > probeForget {
			delete(p.pending, seq)
		}
	}
	p.worst = 0
	return worst
}

// Close stops the probe and waits for its goroutines.
func (p *LagProbe) Close() {
	select {
	case <-p.stop:
		return
	default:
	}
	close(p.stop)
	for _, s := range p.socks {
		s.Close()
	}
	p.wg.Wait()
}

func (p *LagProbe) send() {
	defer p.wg.Done()
	tick := time.NewTicker(p.interval)
	defer tick.Stop()
	var buf bytes.Buffer
	for {
		select {
		case <-p.stop:
			return
		case <-tick.C:
		}
		for i, sock := range p.socks {
			p.mu.Lock()
			p.seq++
			seq := p.seq
			p.pending[seq] = sentProbe{at: time.Now(), sock: i}
			p.mu.Unlock()
			buf.Reset()
			writeProbe(&buf, sock.LocalAddr().(*net.UDPAddr).AddrPort(), p.dests[i], seq)
			if _, err := sock.WriteToUDPAddrPort(buf.Bytes(), p.dests[i]); err != nil {
				p.mu.Lock()
				delete(p.pending, seq)
				p.mu.Unlock()
			}
		}
	}
}

// probeBranch starts the branch of every probe, the sequence number
// following; probeCallID starts its Call-ID.
const (
	probeBranch = "z9hG4bK-lagprobe-"
	probeCallID = "lagprobe-"
)

func writeProbe(b *bytes.Buffer, from, to netip.AddrPort, seq uint64) {
	n := strconv.FormatUint(seq, 10)
	fmt.Fprintf(b, "OPTIONS sip:%s SIP/2.0\r\n", to)
	fmt.Fprintf(b, "Via: SIP/2.0/UDP %s;branch=%s%s;rport\r\n", from, probeBranch, n)
	fmt.Fprintf(b, "From: <sip:lagprobe@%s>;tag=lagprobe\r\nTo: <sip:%s>\r\n", from, to)
	fmt.Fprintf(b, "Call-ID: %s%s@%s\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n", probeCallID, n, from.Addr())
}

// isLagProbe reports whether msg is a LagProbe's OPTIONS (by its Call-ID).
func isLagProbe(msg sip.Message) bool {
	req, ok := msg.(*sip.Request)
	if !ok || req.Method != sip.OPTIONS {
		return false
	}
	cid := req.CallID()
	return cid != nil && strings.HasPrefix(cid.Value(), probeCallID)
}

// answerLagProbe answers a probe 200, as an out-of-dialog OPTIONS is.
func (t *Transport) answerLagProbe(req *sip.Request) {
	d, err := replyDest(req)
	if err != nil {
		return
	}
	buf := encode(sip.NewResponseFromRequest(req, 200, "OK", nil))
	_ = t.writeRaw(d, buf.Bytes())
	bufPool.Put(buf)
}

func (p *LagProbe) read(i int, sock *net.UDPConn) {
	defer p.wg.Done()
	buf := make([]byte, 4096)
	for {
		n, _, err := sock.ReadFromUDPAddrPort(buf)
		if err != nil {
			select {
			case <-p.stop:
				return
			default:
				continue // an ICMP error of an earlier send, say
			}
		}
		now := time.Now()
		seq, ok := probeSeq(buf[:n])
		if !ok {
			continue
		}
		p.mu.Lock()
		if sent, ok := p.pending[seq]; ok {
			p.worst = max(p.worst, now.Sub(sent.at))
			for older, o := range p.pending {
				if o.sock == i && older <= seq {
					delete(p.pending, older) // answered, or lost before it
				}
			}
		}
		p.mu.Unlock()
	}
}

// probeSeq finds the probe's sequence number in the branch of an answer.
func probeSeq(msg []byte) (uint64, bool) {
	i := bytes.Index(msg, []byte(probeBranch))
	if i < 0 {
		return 0, false
	}
	rest := msg[i+len(probeBranch):]
	end := 0
	for end < len(rest) && rest[end] >= '0' && rest[end] <= '9' {
		end++
	}
	seq, err := strconv.ParseUint(string(rest[:end]), 10, 64)
	return seq, err == nil
}
