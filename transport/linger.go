package transport

import (
	"encoding/binary"
	"hash/maphash"
	"net/netip"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// linger absorbs the retransmissions that arrive after the transport or a
// call has answered: a request repeated because our response was lost gets
// that response again, and a final response to our INVITE repeated because
// our ACK was lost gets the ACK again. What it keeps per entry is the
// encoded message and where it went, a few hundred bytes, for one
// transaction linger (RFC 3261's 64*T1 by default: Timers D, J and the 2xx
// ACK window). Every entry lives equally long, so expiry is a FIFO queue
// swept by the clock, with no timer per entry; a call's actors can be
// released the moment the call ends.
//
// At a few thousand calls a second that is a few hundred thousand entries,
// most of the server's live heap. Each one an object of its own, holding
// its key's strings (which pinned the parsed headers they were cut from),
// was a dozen small objects the garbage collector marked on every cycle:
// a cycle then took a quarter of a second of one core, every other second,
// and on a busy machine that was a stall every admitted call felt. So the
// entries hold no pointers: they are records in chunks of lingerChunkLen,
// their bytes (key, message, transport name) copied into one arena per
// chunk, and they are found through a map from a hash of the key to the
// entry's sequence number. The collector sees a few large objects and a
// map it does not look into.
type linger struct {
	ttl    time.Duration
	seed   maphash.Seed
	mu     sync.Mutex
	index  map[uint64]uint64 // key hash → sequence number of the newest entry with it
	chunks []*lingerChunk    // in expiry order; chunks[0].recs[0] is entry base
	base   uint64
	head   uint64 // the oldest entry not yet swept
	next   uint64 // the sequence number of the next entry kept
}

const (
	lingerChunkLen = 1024
	// lingerArena is the least arena capacity of a new chunk: a thousand
	// responses of a few hundred bytes.
	lingerArena = 256 << 10
)

type lingerChunk struct {
	data []byte // the bytes of recs, back to back, never overwritten
	recs [lingerChunkLen]lingerRec
}

// lingerRec is one entry. It holds no pointers: its bytes are in its
// chunk's arena from off on, its key (keyLen), message (rawLen), transport
// name (tpLen) and address zone (zoneLen), in that order.
type lingerRec struct {
	hash           uint64
	expires        int64 // unix nanoseconds
	off            uint32
	keyLen, rawLen uint32
	tpLen, zoneLen uint8
	is4            bool
	port           uint16
	addr           [16]byte
}

// lingerKey names what a retransmission is matched on: the branch of the
// top Via plus the method for a request (CANCEL and ACK share the INVITE's
// branch; RFC 3261 §17.2.3), the branch plus the To tag for a final
// response to our INVITE (each fork's 2xx needs its own ACK). The Call-ID
// is part of it too: a peer that reuses branches across calls (they are
// meant to be unique, not all phones make them so) must not get another
// call's answer.
type lingerKey struct {
	branch string
	method string // a request's; "" for a response
	toTag  string // a response's
	callID string
}

// lingerEntry is what lookup found: the message and where it went.
type lingerEntry struct {
	raw  []byte
	dest destination
}

// destination is where an encoded message goes.
type destination struct {
	transport string         // "UDP", "TCP", "TLS"
	addr      netip.AddrPort // UDP, or a connection's remote address
}

func newLinger(ttl time.Duration) *linger {
	return &linger{ttl: ttl, seed: maphash.MakeSeed(), index: map[uint64]uint64{}}
}

// keep stores a copy of raw under key, replacing an older entry (a 200 that
// follows the 100 we lingered for the same request, say).
func (l *linger) keep(key lingerKey, raw []byte, dest destination) {
	if l.ttl <= 0 || key.branch == "" || !dest.addr.IsValid() {
		return
	}
	h := maphash.Comparable(l.seed, key)
	addr := dest.addr.Addr()
	zone := addr.Zone()
	if len(dest.transport) > 255 || len(zone) > 255 {
		return // no such transport or interface name
	}
	expires := time.Now().Add(l.ttl).UnixNano()
	l.mu.Lock()
	defer l.mu.Unlock()
	i := int(l.next - l.base)
	if n := len(l.chunks); i/lingerChunkLen == n {
		// Sized like the last chunk filled, so the arena is seldom grown
		// (each growth copies it and leaves room unused).
		size := lingerArena
		if n > 0 {
			size = max(size, len(l.chunks[n-1].data)*9/8)
		}
		l.chunks = append(l.chunks, &lingerChunk{data: make([]byte, 0, size)})
	}
	c := l.chunks[i/lingerChunkLen]
	start := len(c.data)
	c.data = appendKey(c.data, key)
	keyLen := len(c.data) - start
	c.data = append(c.data, raw...)
	c.data = append(c.data, dest.transport...)
	c.data = append(c.data, zone...)
	c.recs[i%lingerChunkLen] = lingerRec{
		hash: h, expires: expires, off: uint32(start), keyLen: uint32(keyLen), rawLen: uint32(len(raw)),
		tpLen: uint8(len(dest.transport)), zoneLen: uint8(len(zone)),
		is4: addr.Is4(), port: dest.addr.Port(), addr: addr.As16(),
	}
	l.index[h] = l.next
	l.next++
}

// lookup returns the entry kept under key, or nil.
func (l *linger) lookup(key lingerKey) *lingerEntry {
	if key.branch == "" {
		return nil
	}
	h := maphash.Comparable(l.seed, key)
	l.mu.Lock()
	defer l.mu.Unlock()
	seq, ok := l.index[h]
	if !ok || seq < l.head || seq >= l.next {
		return nil
	}
	i := int(seq - l.base)
	c := l.chunks[i/lingerChunkLen]
	r := &c.recs[i%lingerChunkLen]
	b := c.data[r.off:]
	if r.hash != h || !keyIs(b[:r.keyLen], key) {
		return nil // another key with the same hash
	}
	b = b[r.keyLen:]
	// The arena is only ever appended to, so the message can be handed
	// out as it is, even if its chunk is swept meanwhile.
	raw := b[:r.rawLen:r.rawLen]
	b = b[r.rawLen:]
	tp, zone := string(b[:r.tpLen]), string(b[r.tpLen:r.tpLen+r.zoneLen])
	addr := netip.AddrFrom16(r.addr)
	if r.is4 {
		addr = addr.Unmap()
	} else if zone != "" {
		addr = addr.WithZone(zone)
	}
	return &lingerEntry{raw: raw, dest: destination{transport: tp, addr: netip.AddrPortFrom(addr, r.port)}}
}

// sweep forgets the entries that have expired, and the chunks they filled.
func (l *linger) sweep(now time.Time) {
	t := now.UnixNano()
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.head < l.next {
		i := int(l.head - l.base)
		r := &l.chunks[i/lingerChunkLen].recs[i%lingerChunkLen]
		if r.expires > t {
			return
		}
		if seq, ok := l.index[r.hash]; ok && seq == l.head {
			delete(l.index, r.hash)
		}
		l.head++
		if i+1 == lingerChunkLen {
			l.chunks[0] = nil
			l.chunks = l.chunks[1:]
			l.base += lingerChunkLen
		}
	}
}

// appendKey appends key's fields, each after its length.
func appendKey(b []byte, key lingerKey) []byte {
	for _, s := range [...]string{key.branch, key.method, key.toTag, key.callID} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

// keyIs says whether b, written by appendKey, is key.
func keyIs(b []byte, key lingerKey) bool {
	for _, s := range [...]string{key.branch, key.method, key.toTag, key.callID} {
		n, w := binary.Uvarint(b)
		if w <= 0 || n != uint64(len(s)) || len(b)-w < len(s) || string(b[w:w+len(s)]) != s {
			return false
		}
		b = b[w+len(s):]
	}
	return len(b) == 0
}

func requestKey(req *sip.Request) lingerKey {
	v, cid := req.Via(), req.CallID()
	if v == nil || cid == nil {
		return lingerKey{}
	}
	b, _ := v.Params.Get("branch")
	return lingerKey{branch: b, method: string(req.Method), callID: cid.Value()}
}

func responseKey(res *sip.Response) lingerKey {
	v, cid := res.Via(), res.CallID()
	if v == nil || cid == nil {
		return lingerKey{}
	}
	b, _ := v.Params.Get("branch")
	return lingerKey{branch: b, toTag: ToTag(res), callID: cid.Value()}
}
