package loadtest

import (
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Kind is how an initiator phone treats its call.
type Kind uint8

// The initiator behaviours a mix is made of.
const (
	KindAccept   Kind = iota // answers, accepts REFER and NOTIFYs 100 then 200
	KindRefuse               // answers, refuses REFER with 603: the server falls back to anchored
	KindBusy                 // answers the INVITE 486 Busy Here
	KindNoAnswer             // never answers: the server's ring timeout ends the call (408)
	numKinds
)

var kindNames = [numKinds]string{"accept", "refuse", "busy", "noanswer"}

func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return "kind" + strconv.Itoa(int(k))
}

// Mix is the share of each Kind among the initiators, as weights.
type Mix [numKinds]int

// ParseMix reads "accept=90,refuse=5,busy=3,noanswer=2"; a kind left out
// has weight 0.
func ParseMix(s string) (Mix, error) {
	var m Mix
	total := 0
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, w, ok := strings.Cut(part, "=")
		if !ok {
			w = "1"
		}
		k := Kind(0)
		for k < numKinds && kindNames[k] != strings.TrimSpace(name) {
			k++
		}
		if k == numKinds {
			return m, fmt.Errorf("mix: unknown kind %q (want %s)", name, strings.Join(kindNames[:], ", "))
		}
		n, err := strconv.Atoi(strings.TrimSpace(w))
		if err != nil || n < 0 {
			return m, fmt.Errorf("mix: weight of %s must be a whole number >= 0, got %q", name, w)
		}
		m[k] += n
		total += n
	}
	if total == 0 {
		return m, fmt.Errorf("mix %q: no kind has a weight", s)
	}
	return m, nil
}

func (m Mix) String() string {
	var parts []string
	for k, w := range m {
		if w > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", Kind(k), w))
		}
	}
	return strings.Join(parts, ",")
}

// schedule spreads the kinds evenly (smooth weighted round robin), so any
// stretch of calls has about the mix's proportions: call i is schedule[i%len].
func (m Mix) schedule() []Kind {
	total := 0
	for _, w := range m {
		total += w
	}
	var cur [numKinds]int
	out := make([]Kind, total)
	for i := range out {
		best := -1
		for k, w := range m {
			cur[k] += w
			if w > 0 && (best < 0 || cur[k] > cur[best]) {
				best = k
			}
		}
		cur[best] -= total
		out[i] = Kind(best)
	}
	return out
}

// Flags of what a call's phones did (their own view).
const (
	fInitInvite uint32 = 1 << iota
	fInitAnswered
	fInitConfirmed
	fInitRejected
	fInitCancelled
	fReferAccepted
	fReferRejected
	fNotifyFinal
	fInitReinvite
	fInitBye
	fDestInvite
	fDestAnswered
	fDestConfirmed
	fDestByeSent
)

var flagNames = []string{"initiator INVITE", "initiator answered", "initiator ACK", "initiator rejected",
	"initiator CANCEL", "REFER accepted", "REFER refused", "final NOTIFY", "initiator re-INVITE",
	"initiator BYE", "destination INVITE", "destination answered", "destination ACK", "destination BYE"}

func describeFlags(f uint32) string {
	var names []string
	for i, n := range flagNames {
		if f&(1<<i) != 0 {
			names = append(names, n)
		}
	}
	return strings.Join(names, ", ")
}

// expectation is what a call of a kind must end with.
type expectation struct {
	code  int    // final XML result code
	leg   string // and its Leg
	phone uint32 // every flag the phones must report
}

func expect(k Kind, anchored bool) expectation {
	bridged := fInitInvite | fInitAnswered | fInitConfirmed | fInitReinvite | fDestInvite | fDestAnswered |
		fDestConfirmed | fDestByeSent | fInitBye
	switch k {
	case KindBusy:
		return expectation{486, "Initiator", fInitInvite | fInitRejected}
	case KindNoAnswer:
		return expectation{408, "Initiator", fInitInvite | fInitCancelled}
	case KindRefuse:
		if !anchored {
			return expectation{200, "Destination", bridged | fReferRejected}
		}
	case KindAccept:
		if !anchored {
			return expectation{200, "Destination", fInitInvite | fInitAnswered | fInitConfirmed | fReferAccepted | fNotifyFinal | fInitBye}
		}
	}
	return expectation{200, "Destination", bridged}
}

// callRec is everything measured about one call. The XML reader, the HTTP
// worker and the phones' event hooks write it concurrently, so every field
// is atomic; times are nanoseconds since the trial's start.
type callRec struct {
	kind Kind
	exp  expectation

	sent      atomic.Int64 // request handed to the connection (0: not yet)
	invite    atomic.Int64 // initiator phone got the INVITE
	answered  atomic.Int64 // initiator phone sent its 200
	initOK    atomic.Int64 // XML "200 Initiator" read
	final     atomic.Int64 // XML final read
	connected atomic.Int64 // phones' view of the connection: final NOTIFY sent, or destination ACKed

	finalCode atomic.Int32
	finalLeg  atomic.Value // string
	finals    atomic.Int32 // finals read (more than one is a protocol violation)
	late      atomic.Int32 // results read after the final
	httpCode  atomic.Int32 // HTTP status (HTTP front end)
	phone     atomic.Uint32
	resolved  atomic.Bool

	// A request the server refused before starting its call: a 503 or 429
	// as its only result (XML: no 100 before it), or as its HTTP status.
	admitted   atomic.Bool  // the XML 100 arrived
	refused    atomic.Bool  // it was refused
	retryAfter atomic.Int32 // the refusal's retry-after, seconds (0: none)
	refusal    atomic.Value // string: the refusal's text
}

// isRefusal says whether a final result is a refusal of the request: 503 or
// 429 about no leg before any 100.
func isRefusal(code int, leg string, admitted bool) bool {
	return !admitted && leg == "" && (code == 503 || code == 429)
}

// table holds one trial's calls; call index i (global across trials, so a
// late event from an earlier trial is recognised) is recs[i-base].
type table struct {
	base     uint64
	recs     []callRec
	start    time.Time
	anchored bool
	http     bool // outcome from the HTTP status and the phones only
	noPhones bool // tests against a fake server: no phone view expected

	sent       atomic.Int64 // calls handed to the driver
	resolved   atomic.Int64 // calls whose outcome is known
	succeeded  atomic.Int64 // resolved and as expected (so far)
	failedNow  atomic.Int64 // resolved and not as expected
	refusedNow atomic.Int64 // resolved as refused by the server
}

func newTable(base uint64, n int, sched []Kind, anchored, http, noPhones bool) *table {
	t := &table{base: base, recs: make([]callRec, n), anchored: anchored, http: http, noPhones: noPhones}
	for i := range t.recs {
		k := sched[(base+uint64(i))%uint64(len(sched))]
		t.recs[i].kind = k
		t.recs[i].exp = expect(k, anchored)
		t.recs[i].finalLeg.Store("")
	}
	return t
}

func (t *table) get(idx uint64) *callRec {
	if t == nil || idx < t.base || idx-t.base >= uint64(len(t.recs)) {
		return nil
	}
	return &t.recs[idx-t.base]
}

func (t *table) since(at time.Time) int64 { return int64(at.Sub(t.start)) }

// setFlag records a phone event and re-checks the call.
func (t *table) setFlag(r *callRec, f uint32) {
	r.phone.Or(f)
	t.check(r)
}

// check counts the call as resolved once its outcome is known: the final
// (or HTTP status) arrived and either it is unexpected or the phones have
// reported everything they must.
func (t *table) check(r *callRec) {
	if r.resolved.Load() {
		return
	}
	var answered, ok bool
	if t.http {
		code := r.httpCode.Load()
		answered, ok = code != 0, code == 200
	} else {
		answered = r.finals.Load() > 0
		ok = answered && r.finalCode.Load() == int32(r.exp.code) && r.finalLeg.Load().(string) == r.exp.leg
	}
	if !answered {
		return
	}
	if r.refused.Load() {
		if r.resolved.CompareAndSwap(false, true) {
			t.resolved.Add(1)
			t.refusedNow.Add(1)
		}
		return
	}
	phoneDone := t.noPhones || r.phone.Load()&r.exp.phone == r.exp.phone
	if ok && !phoneDone {
		return
	}
	if r.resolved.CompareAndSwap(false, true) {
		t.resolved.Add(1)
		if ok {
			t.succeeded.Add(1)
		} else {
			t.failedNow.Add(1)
		}
	}
}

// failure says why a call failed, "" when it succeeded. Called after the
// trial, when nothing writes to r any more.
func (t *table) failure(r *callRec) string {
	if r.sent.Load() == 0 {
		return "not sent"
	}
	if t.http {
		if c := r.httpCode.Load(); c != 200 {
			if c == 0 {
				return "no HTTP answer"
			}
			if c < 0 {
				return "HTTP request failed"
			}
			return fmt.Sprintf("HTTP %d", c)
		}
	} else {
		switch {
		case r.finals.Load() == 0:
			return "no final result"
		case r.finals.Load() > 1:
			return "more than one final"
		case r.late.Load() > 0:
			return "result after the final"
		}
		code, leg := int(r.finalCode.Load()), r.finalLeg.Load().(string)
		if code != r.exp.code || leg != r.exp.leg {
			return fmt.Sprintf("final %d %s, want %d %s", code, leg, r.exp.code, r.exp.leg)
		}
	}
	if missing := r.exp.phone &^ r.phone.Load(); missing != 0 && !t.noPhones {
		return "phones missed: " + describeFlags(missing)
	}
	return ""
}

// callUser is the user part of call idx's initiator ("c") or destination
// ("d") URI; the phones and the XML reader find the call by it.
func callUser(role byte, idx uint64) string {
	return string(role) + strconv.FormatUint(idx, 10)
}

// parseCallUser is the inverse of callUser; it also accepts a whole URI
// ("sip:c12@host:port;params").
func parseCallUser(s string) (role byte, idx uint64, ok bool) {
	if i := strings.IndexByte(s, ':'); i >= 0 && i < 6 {
		s = s[i+1:]
	}
	if at := strings.IndexByte(s, '@'); at >= 0 {
		s = s[:at]
	}
	if len(s) < 2 || (s[0] != 'c' && s[0] != 'd') {
		return 0, 0, false
	}
	n, err := strconv.ParseUint(s[1:], 10, 64)
	if err != nil {
		return 0, 0, false
	}
	return s[0], n, true
}
