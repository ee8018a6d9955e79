package cdr

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clicktocall/clicktocall/actors"
	"github.com/clicktocall/clicktocall/config/logging"
)

var (
	referReq    = actors.CallRequest{Initiator: "sip:alice@a.example", Destination: "sip:bob@b.example", Origin: "api", ClientIP: "192.0.2.1"}
	anchoredReq = actors.CallRequest{Initiator: "sip:alice@a.example", Destination: "sip:bob@b.example", Anchor: true, Origin: "xml"}
	t0          = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
)

// report feeds the journal a result as the engine would.
func report(j *Journal, req actors.CallRequest, id string, code int, leg actors.Leg, offset time.Duration) actors.Progress {
	p := actors.Progress{CallID: id, Code: code, Leg: leg, Text: "text " + leg.String(), At: t0.Add(offset)}
	j.Result(req, p)
	return p
}

// successfulCall reports the five results of a connected call.
func successfulCall(j *Journal, req actors.CallRequest, id string) {
	report(j, req, id, 100, actors.LegNone, 0)
	report(j, req, id, 180, actors.LegInitiator, 100*time.Millisecond)
	report(j, req, id, 200, actors.LegInitiator, 300*time.Millisecond)
	report(j, req, id, 180, actors.LegDestination, 500*time.Millisecond)
	report(j, req, id, 200, actors.LegDestination, 1500*time.Millisecond)
}

func TestJournalFollowsACallThroughItsStates(t *testing.T) {
	j := New(Options{})
	defer j.Close()
	steps := []struct {
		code  int
		leg   actors.Leg
		state State
	}{
		{100, actors.LegNone, StateInProgress},
		{180, actors.LegInitiator, StateRingingInitiator},
		{200, actors.LegInitiator, StateInitiatorConnected},
		{180, actors.LegDestination, StateRingingDestination},
		{200, actors.LegDestination, StateConnected},
	}
	for i, s := range steps {
		report(j, referReq, "c1", s.code, s.leg, time.Duration(i)*time.Second)
		c, ok := j.Get("c1")
		if !ok || c.State != s.state || len(c.Results) != i+1 {
			t.Fatalf("after %d %s: %+v, %v; want state %s with %d results", s.code, s.leg, c, ok, s.state, i+1)
		}
	}
	c, _ := j.Get("c1")
	if f, ok := c.Final(); !ok || f.Code != 200 || f.Leg != "Destination" {
		t.Errorf("final = %+v, %v", f, ok)
	}
	if c.Mode != actors.ModeRefer || c.Active() {
		t.Errorf("a transferred call: mode %s, active %v; want refer, not active", c.Mode, c.Active())
	}
	// Nothing follows a final.
	report(j, referReq, "c1", 487, actors.LegDestination, time.Minute)
	if c, _ := j.Get("c1"); len(c.Results) != 5 {
		t.Errorf("a result after the final was recorded: %+v", c.Results)
	}
}

func TestFinalStates(t *testing.T) {
	for _, tc := range []struct {
		code  int
		leg   actors.Leg
		state State
	}{
		{487, actors.LegInitiator, StateCancelled},
		{486, actors.LegInitiator, StateFailed},
		{408, actors.LegDestination, StateFailed},
		{503, actors.LegNone, StateFailed},
	} {
		j := New(Options{})
		report(j, referReq, "c", 100, actors.LegNone, 0)
		report(j, referReq, "c", tc.code, tc.leg, time.Second)
		if c, _ := j.Get("c"); c.State != tc.state || c.Active() {
			t.Errorf("final %d %s: state %s active %v, want %s inactive", tc.code, tc.leg, c.State, c.Active(), tc.state)
		}
		j.Close()
	}
}

func TestConnectedAnchoredCallStaysActiveUntilItEnds(t *testing.T) {
	j := New(Options{})
	defer j.Close()
	successfulCall(j, anchoredReq, "a1")
	if c, _ := j.Get("a1"); !c.Active() || c.Mode != actors.ModeAnchored {
		t.Fatalf("connected anchored call: %+v; want active, anchored", c)
	}
	if got := j.List(true, 0); len(got) != 1 || got[0].ID != "a1" {
		t.Fatalf("active list = %+v", got)
	}
	end := t0.Add(time.Minute)
	j.CallEnded("a1", end)
	c, _ := j.Get("a1")
	if c.Active() || c.State != StateEnded || !c.EndedAt.Equal(end) {
		t.Errorf("after its end: %+v; want ended at %v", c, end)
	}
	if got := j.List(true, 0); len(got) != 0 {
		t.Errorf("active list after the end = %+v", got)
	}
}

func TestWatchReplaysThenFollowsWithoutGapsOrDuplicates(t *testing.T) {
	j := New(Options{})
	defer j.Close()
	report(j, referReq, "w", 100, actors.LegNone, 0)
	report(j, referReq, "w", 180, actors.LegInitiator, time.Second)
	w, ok := j.Watch("w")
	if !ok {
		t.Fatal("Watch of a known call failed")
	}
	report(j, referReq, "w", 200, actors.LegInitiator, 2*time.Second)
	report(j, referReq, "w", 486, actors.LegDestination, 3*time.Second)
	var codes []int
	for _, r := range w.Past {
		codes = append(codes, r.Code)
	}
	timeout := time.After(5 * time.Second)
	for done := false; !done; {
		select {
		case r, ok := <-w.C:
			if !ok {
				done = true
				break
			}
			codes = append(codes, r.Code)
		case <-timeout:
			t.Fatalf("C not closed after the final; got %v", codes)
		}
	}
	if got := jsonOf(t, codes); got != "[100,180,200,486]" {
		t.Errorf("watched %s, want [100,180,200,486]", got)
	}
	if w.Lost() {
		t.Error("Lost() after a normal call")
	}
	w.Stop() // after the close: harmless
	if _, ok := j.Watch("unknown"); ok {
		t.Error("Watch of an unknown call succeeded")
	}
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestWatchOfFinishedCallIsClosedWithEverythingInPast(t *testing.T) {
	j := New(Options{})
	defer j.Close()
	successfulCall(j, referReq, "f")
	w, ok := j.Watch("f")
	if !ok || len(w.Past) != 5 {
		t.Fatalf("Watch = %+v, %v", w, ok)
	}
	if _, open := <-w.C; open {
		t.Error("C of a finished call is open")
	}
}

func TestStoppedWatchIsNotFedAndDoesNotBlockTheCall(t *testing.T) {
	j := New(Options{})
	defer j.Close()
	report(j, referReq, "s", 100, actors.LegNone, 0)
	w, _ := j.Watch("s")
	w.Stop()
	done := make(chan struct{})
	go func() {
		successfulCall(j, referReq, "s")
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("results blocked on a stopped watch")
	}
	if _, open := <-w.C; open {
		t.Error("a stopped watch received a result")
	}
}

func TestTrackMakesACallWatchableBeforeItsFirstResult(t *testing.T) {
	j := New(Options{})
	defer j.Close()
	j.Track("t", referReq, "req-1")
	c, ok := j.Get("t")
	if !ok || c.State != StateStarting || c.RequestID != "req-1" || !c.Active() {
		t.Fatalf("tracked call: %+v, %v", c, ok)
	}
	w, _ := j.Watch("t")
	report(j, referReq, "t", 100, actors.LegNone, 0)
	select {
	case r := <-w.C:
		if r.Code != 100 {
			t.Errorf("first watched result %d", r.Code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no result")
	}
	w.Stop()
}

func TestFinishedCallsAreForgottenAfterRetentionAndBeyondMax(t *testing.T) {
	j := New(Options{Retention: 100 * time.Millisecond, MaxFinished: 2})
	defer j.Close()
	for _, id := range []string{"a", "b", "c"} {
		successfulCall(j, referReq, id)
	}
	if _, ok := j.Get("a"); ok {
		t.Error("the oldest of 3 finished calls is kept with max 2")
	}
	report(j, referReq, "running", 100, actors.LegNone, 0)
	j.Track("never", referReq, "")
	for _, id := range []string{"b", "c", "running", "never"} {
		if _, ok := j.Get(id); !ok {
			t.Errorf("%s forgotten too early", id)
		}
	}
	time.Sleep(150 * time.Millisecond)
	for _, id := range []string{"b", "c", "never"} {
		if _, ok := j.Get(id); ok {
			t.Errorf("%s kept after the retention time", id)
		}
	}
	if _, ok := j.Get("running"); !ok {
		t.Error("a running call was forgotten")
	}
}

func TestFallbackMarksTheNamedCall(t *testing.T) {
	j := New(Options{})
	defer j.Close()
	var f recorder
	j.AddFollower(&f)
	other := referReq
	other.Initiator = "sip:carol@a.example"
	for _, c := range []struct {
		id  string
		req actors.CallRequest
	}{{"x", referReq}, {"y", other}} {
		report(j, c.req, c.id, 100, actors.LegNone, 0)
		report(j, c.req, c.id, 200, actors.LegInitiator, time.Second)
	}
	j.Fallback("x", referReq)
	if c, _ := j.Get("x"); c.Mode != actors.ModeFallback {
		t.Errorf("mode of the falling-back call = %s", c.Mode)
	}
	if c, _ := j.Get("y"); c.Mode != actors.ModeRefer {
		t.Errorf("mode of the other call = %s", c.Mode)
	}
	if got := f.fallbacks(); got != "x" {
		t.Errorf("followers heard fallbacks of %q, want x", got)
	}
}

// recorder is a Follower that remembers what it was told.
type recorder struct {
	mu      sync.Mutex
	results []string
	falls   []string
	invites []Call
}

func (r *recorder) CallResult(c Call, p actors.Progress) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.results = append(r.results, c.ID+":"+string(c.State))
}

func (r *recorder) CallFallback(c Call) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.falls = append(r.falls, c.ID)
}

func (r *recorder) CallInviteSent(c Call) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.invites = append(r.invites, c)
}

func (r *recorder) fallbacks() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.falls, ",")
}

func TestFollowersSeeEachResultAppliedAndTheInvite(t *testing.T) {
	var f recorder
	j := New(Options{Followers: []Follower{&f}})
	defer j.Close()
	report(j, referReq, "c", 100, actors.LegNone, 0)
	j.InviteSent("c", referReq, t0.Add(time.Millisecond))
	report(j, referReq, "c", 486, actors.LegInitiator, time.Second)
	f.mu.Lock()
	defer f.mu.Unlock()
	if got := strings.Join(f.results, " "); got != "c:in_progress c:failed" {
		t.Errorf("followers saw %q", got)
	}
	if len(f.invites) != 1 || !f.invites[0].InviteAt.Equal(t0.Add(time.Millisecond)) {
		t.Errorf("invites = %+v", f.invites)
	}
}

// syncBuffer is a Records writer tests can read while the journal writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestOneRecordPerFinishedCallWithLegTimesAndDuration(t *testing.T) {
	var out syncBuffer
	j := New(Options{Records: &out})
	j.Track("r1", referReq, "idem-7")
	successfulCall(j, referReq, "r1")
	report(j, anchoredReq, "r2", 100, actors.LegNone, 0)
	report(j, anchoredReq, "r2", 180, actors.LegInitiator, time.Second)
	report(j, anchoredReq, "r2", 487, actors.LegInitiator, 3*time.Second)
	report(j, anchoredReq, "r3", 100, actors.LegNone, 0) // still running: no record
	j.Close()

	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("records:\n%s\nwant 2 lines", out.String())
	}
	var r1, r2 Record
	for i, dst := range []*Record{&r1, &r2} {
		dec := json.NewDecoder(strings.NewReader(lines[i]))
		dec.DisallowUnknownFields()
		if err := dec.Decode(dst); err != nil {
			t.Fatalf("line %d %q: %v", i, lines[i], err)
		}
	}
	at := func(d time.Duration) *time.Time { v := t0.Add(d); return &v }
	want1 := Record{
		CallID: "r1", RequestID: "idem-7", Origin: "api", ClientIP: "192.0.2.1",
		Initiator: "sip:alice@a.example", Destination: "sip:bob@b.example", Mode: "refer", StartedAt: t0,
		InitiatorLeg:   LegRecord{Code: 200, RingingAt: at(100 * time.Millisecond), AnsweredAt: at(300 * time.Millisecond)},
		DestinationLeg: LegRecord{Code: 200, RingingAt: at(500 * time.Millisecond), AnsweredAt: at(1500 * time.Millisecond)},
		FinalCode:      200, FinalLeg: "Destination", FinalText: "text Destination", FinalAt: t0.Add(1500 * time.Millisecond),
		DurationMS: 1500,
	}
	if jsonOf(t, r1) != jsonOf(t, want1) {
		t.Errorf("record 1:\n%s\nwant\n%s", jsonOf(t, r1), jsonOf(t, want1))
	}
	if r2.CallID != "r2" || r2.Mode != "anchored" || !r2.Anchor || r2.FinalCode != 487 || r2.DurationMS != 3000 ||
		r2.InitiatorLeg.Code != 487 || r2.InitiatorLeg.FailedAt == nil || r2.DestinationLeg.Code != 0 || r2.DestinationLeg.RingingAt != nil {
		t.Errorf("record 2: %s", lines[1])
	}
	if !strings.Contains(lines[0], `"started_at":"2025-01-02T03:04:05Z"`) {
		t.Errorf("times are not RFC 3339 UTC: %s", lines[0])
	}
}

func TestRecordsRotateLikeTheLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "calls.cdr")
	f, err := logging.OpenRotatingFile(path, 2)
	if err != nil {
		t.Fatal(err)
	}
	j := New(Options{Records: f})
	for _, id := range []string{"a", "b", "c"} {
		successfulCall(j, referReq, id)
	}
	j.Close()
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	old, err := os.ReadFile(path + ".old")
	if err != nil {
		t.Fatal(err)
	}
	cur, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(old), "\n"); n != 2 || !strings.Contains(string(old), `"call_id":"b"`) {
		t.Errorf("%s.old holds %d lines: %s", path, n, old)
	}
	if n := strings.Count(string(cur), "\n"); n != 1 || !strings.Contains(string(cur), `"call_id":"c"`) {
		t.Errorf("%s holds %d lines: %s", path, n, cur)
	}
}

// blockingWriter does not return from Write until released.
type blockingWriter struct{ started, release chan struct{} }

func (w blockingWriter) Write(p []byte) (int, error) {
	select {
	case w.started <- struct{}{}:
	default:
	}
	<-w.release
	return len(p), nil
}

func TestASlowRecordWriterDropsRecordsInsteadOfBlockingCalls(t *testing.T) {
	w := blockingWriter{started: make(chan struct{}, 1), release: make(chan struct{})}
	j := New(Options{Records: w, Queue: 1})
	successfulCall(j, referReq, "a")
	select {
	case <-w.started:
	case <-time.After(5 * time.Second):
		t.Fatal("the first record was not written")
	}
	done := make(chan struct{})
	go func() {
		for _, id := range []string{"b", "c", "d"} {
			successfulCall(j, referReq, id)
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("calls blocked on the CDR writer")
	}
	// One record is being written, one queued, the rest dropped.
	if d := j.Dropped(); d != 2 {
		t.Errorf("Dropped() = %d, want 2", d)
	}
	close(w.release)
	j.Close()
}
