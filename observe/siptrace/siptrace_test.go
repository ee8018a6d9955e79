package siptrace

import (
	"fmt"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"

	"github.com/clicktocall/clicktocall/actors"
)

func request(method sip.RequestMethod, callID string, cseq uint32, body string, contentType string) *sip.Request {
	req := sip.NewRequest(method, sip.Uri{Scheme: "sip", User: "alice", Host: "127.0.0.1"})
	cid := sip.CallIDHeader(callID)
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: cseq, MethodName: method})
	if contentType != "" {
		req.AppendHeader(sip.NewHeader("Content-Type", contentType))
	}
	req.SetBody([]byte(body))
	return req
}

func response(req *sip.Request, code int, reason string) *sip.Response {
	return sip.NewResponseFromRequest(req, code, reason, nil)
}

func TestRingFilesEachLegsMessagesUnderItsCall(t *testing.T) {
	r := New(10)
	r.TraceLeg("call-1", actors.LegInitiator, "sip-a")
	r.TraceLeg("call-1", actors.LegDestination, "sip-b")

	invite := request(sip.INVITE, "sip-a", 1, "v=0\r\n", "application/sdp")
	r.Observe(invite, false)
	r.Observe(response(invite, 180, "Ringing"), true)
	r.Observe(response(invite, 200, "OK"), true)
	notify := request(sip.NOTIFY, "sip-a", 7, "SIP/2.0 200 OK\r\n", "message/sipfrag;version=2.0")
	r.Observe(notify, true)
	r.Observe(request(sip.INVITE, "sip-b", 1, "", ""), false)
	r.Observe(request(sip.OPTIONS, "someone-else", 1, "", ""), true) // not traced

	c, ok := r.Get("call-1")
	if !ok {
		t.Fatal("call-1 is not traced")
	}
	var got []string
	for _, m := range c.Messages {
		what := m.Method
		if m.Status != 0 {
			what = fmt.Sprintf("%d %s", m.Status, m.Reason)
		}
		got = append(got, fmt.Sprintf("%s %s %s cseq=%d/%s sdp=%v %s", m.Leg, m.Direction, what, m.CSeq, m.CSeqMethod, m.SDP, m.Note))
	}
	want := []string{
		"Initiator out INVITE cseq=1/INVITE sdp=true ",
		"Initiator in 180 Ringing cseq=1/INVITE sdp=false ",
		"Initiator in 200 OK cseq=1/INVITE sdp=false ",
		"Initiator in NOTIFY cseq=7/NOTIFY sdp=false SIP/2.0 200 OK",
		"Destination out INVITE cseq=1/INVITE sdp=false ",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("trace:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(c.Legs) != 2 || c.Legs[0] != (Leg{"Initiator", "sip-a"}) || c.Legs[1] != (Leg{"Destination", "sip-b"}) {
		t.Errorf("legs = %+v", c.Legs)
	}
	for i := 1; i < len(c.Messages); i++ {
		if c.Messages[i].At.Before(c.Messages[i-1].At) {
			t.Errorf("message %d is before message %d", i, i-1)
		}
	}
}

func TestRingForgetsTheOldestCallWhenFull(t *testing.T) {
	r := New(3)
	for i := range 5 {
		r.TraceLeg(fmt.Sprint("call-", i), actors.LegInitiator, fmt.Sprint("sip-", i))
	}
	if r.Len() != 3 {
		t.Errorf("ring holds %d calls, want 3", r.Len())
	}
	for i := range 5 {
		_, ok := r.Get(fmt.Sprint("call-", i))
		if want := i >= 2; ok != want {
			t.Errorf("call-%d kept = %v, want %v", i, ok, want)
		}
	}
	// A forgotten call's Call-ID is no longer traced.
	r.Observe(request(sip.BYE, "sip-0", 2, "", ""), true)
	if len(r.bySIP) != 3 {
		t.Errorf("%d SIP Call-IDs mapped, want 3", len(r.bySIP))
	}
}

func TestRingKeepsAtMostMaxMessagesPerCall(t *testing.T) {
	r := New(1)
	r.TraceLeg("c", actors.LegInitiator, "s")
	for i := range MaxMessagesPerCall + 7 {
		r.Observe(request(sip.INFO, "s", uint32(i), "", ""), true)
	}
	c, _ := r.Get("c")
	if len(c.Messages) != MaxMessagesPerCall || c.Dropped != 7 {
		t.Errorf("kept %d, dropped %d; want %d and 7", len(c.Messages), c.Dropped, MaxMessagesPerCall)
	}
}

func TestObservingAnUntracedMessageAllocatesNothing(t *testing.T) {
	r := New(10)
	r.TraceLeg("c", actors.LegInitiator, "traced")
	msg := request(sip.OPTIONS, "not-traced", 1, "", "")
	if n := testing.AllocsPerRun(100, func() { r.Observe(msg, true) }); n != 0 {
		t.Errorf("Observe of an untraced message allocates %v times", n)
	}
	var off *Ring // api.trace_calls = 0
	off.TraceLeg("c", actors.LegInitiator, "s")
	off.Observe(msg, true)
	if _, ok := off.Get("c"); ok || off.Len() != 0 || New(0) != nil {
		t.Error("a ring of 0 calls traced something")
	}
}

// The cost on the SIP hot path: every message the transport handles goes
// through Observe.
func BenchmarkObserve(b *testing.B) {
	r := New(1000)
	for i := range 1000 {
		r.TraceLeg(fmt.Sprint("call-", i), actors.LegInitiator, fmt.Sprint("sip-", i))
	}
	traced := response(request(sip.INVITE, "sip-999", 1, "", ""), 200, "OK")
	untraced := request(sip.OPTIONS, "nobody", 1, "", "")
	b.Run("traced", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			r.Observe(traced, true)
			if b.N > MaxMessagesPerCall {
				r.calls["call-999"].msgs = r.calls["call-999"].msgs[:0] // stay under the per-call cap
			}
		}
	})
	b.Run("untraced", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			r.Observe(untraced, true)
		}
	})
}
