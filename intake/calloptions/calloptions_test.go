package calloptions

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/clicktocall/clicktocall/actors"
	"github.com/clicktocall/clicktocall/config"
)

func testPolicy(t testing.TB) *Policy {
	t.Helper()
	a := config.Default().API
	a.CallerIDs = []string{`sip:\+1555\d{7}@example\.com`}
	a.AllowedHeaders = []string{"Call-Info", "Alert-Info"}
	p, err := NewPolicy(a)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheckTakesEveryOption(t *testing.T) {
	o, pr := testPolicy(t).Check(Raw{
		InitiatorCallerID:      `"Sales" <sip:+15551234567@example.com>`,
		DestinationCallerID:    "Support",
		InitiatorRingTimeout:   "20",
		DestinationRingTimeout: " 120 ",
		TimeLimit:              "3600",
		InitiatorHeaders:       []actors.Header{{Name: "X-Ticket", Value: "T-42"}, {Name: "alert-info", Value: "<http://x/ring>"}},
		DestinationHeaders:     []actors.Header{HeaderLine("Call-Info: <http://x/card>;purpose=card")},
		Metadata:               `{ "crm": {"id": 42}, "tag": "spring" }`,
	})
	if pr != nil {
		t.Fatalf("Check: %v", pr)
	}
	if id := o.Initiator.CallerID; id == nil || *id != (actors.CallerID{DisplayName: "Sales", URI: "sip:+15551234567@example.com"}) {
		t.Errorf("initiator caller ID %+v", id)
	}
	if id := o.Destination.CallerID; id == nil || *id != (actors.CallerID{DisplayName: "Support"}) {
		t.Errorf("destination caller ID %+v", id)
	}
	if o.Initiator.RingTimeout != 20*time.Second || o.Destination.RingTimeout != 2*time.Minute || o.TimeLimit != time.Hour {
		t.Errorf("timeouts %v %v %v", o.Initiator.RingTimeout, o.Destination.RingTimeout, o.TimeLimit)
	}
	if len(o.Initiator.Headers) != 2 || o.Initiator.Headers[1] != (actors.Header{Name: "alert-info", Value: "<http://x/ring>"}) {
		t.Errorf("initiator headers %+v", o.Initiator.Headers)
	}
	if len(o.Destination.Headers) != 1 || o.Destination.Headers[0] != (actors.Header{Name: "Call-Info", Value: "<http://x/card>;purpose=card"}) {
		t.Errorf("destination headers %+v", o.Destination.Headers)
	}
	if string(o.Metadata) != `{"crm":{"id":42},"tag":"spring"}` {
		t.Errorf("metadata %s, want it compacted", o.Metadata)
	}
}

func TestCheckWithNothingGivenChangesNothing(t *testing.T) {
	o, pr := testPolicy(t).Check(Raw{})
	if pr != nil {
		t.Fatal(pr)
	}
	if o.Initiator.CallerID != nil || o.Destination.CallerID != nil || o.TimeLimit != 0 || o.Metadata != nil ||
		o.Initiator.Headers != nil || o.Destination.RingTimeout != 0 {
		t.Errorf("options %+v from nothing", o)
	}
}

func TestCheckRefusesWithTheFieldNamed(t *testing.T) {
	longValue := strings.Repeat("v", MaxHeaderValue+1)
	many := make([]actors.Header, MaxHeaders+1)
	for i := range many {
		many[i] = actors.Header{Name: "X-N", Value: "1"}
	}
	for _, c := range []struct {
		name  string
		raw   Raw
		field string
		text  string
	}{
		{"caller ID outside caller_ids", Raw{InitiatorCallerID: "sip:+15550000000@evil.example"},
			FieldInitiatorCallerID, "sip:+15550000000@evil.example is not allowed by api.caller_ids"},
		{"caller ID containing an allowed one", Raw{DestinationCallerID: "sip:+15551234567@example.com.evil"},
			FieldDestinationCallerID, "is not allowed by api.caller_ids"},
		{"caller ID with a quote in its name", Raw{InitiatorCallerID: `Sa"les <sip:+15551234567@example.com>`},
			FieldInitiatorCallerID, "display name contains"},
		{"caller ID with parameters after it", Raw{InitiatorCallerID: `<sip:+15551234567@example.com>;tag=1`},
			FieldInitiatorCallerID, "nothing may follow"},
		{"caller ID that is no URI", Raw{InitiatorCallerID: `Sales <mailto:a@b>`},
			FieldInitiatorCallerID, "is not a SIP URI"},
		{"CRLF in a header value", Raw{InitiatorHeaders: []actors.Header{{Name: "X-A", Value: "1\r\nVia: SIP/2.0/UDP evil"}}},
			FieldInitiatorHeaders, "the value of X-A contains CR or LF"},
		{"LF alone in a header value", Raw{DestinationHeaders: []actors.Header{{Name: "X-A", Value: "1\nB: 2"}}},
			FieldDestinationHeaders, "contains CR or LF"},
		{"a forbidden name", Raw{InitiatorHeaders: []actors.Header{{Name: "Via", Value: "SIP/2.0/UDP evil"}}},
			FieldInitiatorHeaders, "Via may not be added: only X- headers and api.allowed_headers"},
		{"a name not allowed", Raw{InitiatorHeaders: []actors.Header{{Name: "Subject", Value: "hi"}}},
			FieldInitiatorHeaders, "Subject may not be added"},
		{"an identity header", Raw{InitiatorHeaders: []actors.Header{{Name: "P-Asserted-Identity", Value: "<sip:x@y>"}}},
			FieldInitiatorHeaders, "P-Asserted-Identity may not be added"},
		{"a compact form", Raw{InitiatorHeaders: []actors.Header{{Name: "f", Value: "<sip:x@y>"}}},
			FieldInitiatorHeaders, "f may not be added"},
		{"a name with a space", Raw{InitiatorHeaders: []actors.Header{{Name: "X-A B", Value: "1"}}},
			FieldInitiatorHeaders, "is not a SIP header name"},
		{"a line without a colon", Raw{InitiatorHeaders: []actors.Header{HeaderLine("X-A 1")}},
			FieldInitiatorHeaders, "has no name"},
		{"too many headers", Raw{DestinationHeaders: many},
			FieldDestinationHeaders, "9 headers, at most 8"},
		{"an oversize value", Raw{InitiatorHeaders: []actors.Header{{Name: "X-Big", Value: longValue}}},
			FieldInitiatorHeaders, "the value of X-Big is 257 bytes, at most 256"},
		{"ring timeout above the maximum", Raw{InitiatorRingTimeout: "121"},
			FieldInitiatorRingTimeout, "121 seconds is above this server's maximum of 120 (api.max_ring_timeout)"},
		{"ring timeout not a number", Raw{DestinationRingTimeout: "20s"},
			FieldDestinationRingTimeout, `"20s" is not a whole number of seconds`},
		{"ring timeout zero", Raw{DestinationRingTimeout: "0"},
			FieldDestinationRingTimeout, "at least 1"},
		{"time limit above the maximum", Raw{TimeLimit: "14401"},
			FieldTimeLimit, "14401 seconds is above this server's maximum of 14400 (api.max_time_limit)"},
		{"oversize metadata", Raw{Metadata: `{"a":"` + strings.Repeat("x", MaxMetadata) + `"}`},
			FieldMetadata, "bytes, at most 1024"},
		{"metadata that is no object", Raw{Metadata: `[1,2]`},
			FieldMetadata, "not a JSON object"},
		{"metadata that is no JSON", Raw{Metadata: `{"a":`},
			FieldMetadata, "not a JSON object"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, pr := testPolicy(t).Check(c.raw)
			if pr == nil {
				t.Fatal("accepted")
			}
			if pr.Field != c.field || !strings.Contains(pr.Text, c.text) {
				t.Errorf("problem %q, want field %s and %q", pr.Error(), c.field, c.text)
			}
			if strings.ContainsAny(pr.Error(), "\r\n") {
				t.Errorf("problem text %q carries a line break", pr.Error())
			}
		})
	}
}

func TestNoCallerIDIsTakenByDefault(t *testing.T) {
	p, err := NewPolicy(config.Default().API)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"sip:+15551234567@example.com", "Sales"} {
		_, pr := p.Check(Raw{InitiatorCallerID: id})
		if pr == nil || !strings.Contains(pr.Text, "api.caller_ids is empty") {
			t.Errorf("caller ID %q with no api.caller_ids: %v", id, pr)
		}
	}
}

func FuzzCheck(f *testing.F) {
	f.Add(`"Sales" <sip:+15551234567@example.com>`, "20", "3600", "X-Ticket: T-42", `{"a":1}`)
	f.Add("sip:+15551234567@example.com", "121", "0", "Via: evil", `[1]`)
	f.Add("Sa\"les", "x", "-1", "X-A: 1\r\nVia: x", `{"a":`)
	p := testPolicy(f)
	f.Fuzz(func(t *testing.T, callerID, ring, limit, header, meta string) {
		raw := Raw{InitiatorCallerID: callerID, DestinationCallerID: callerID, InitiatorRingTimeout: ring,
			DestinationRingTimeout: ring, TimeLimit: limit, InitiatorHeaders: []actors.Header{HeaderLine(header)},
			DestinationHeaders: []actors.Header{{Name: header, Value: header}}, Metadata: meta}
		o, pr := p.Check(raw)
		if pr != nil {
			if pr.Field == "" || pr.Text == "" {
				t.Fatalf("problem without field or text: %+v", pr)
			}
			return
		}
		// What is taken is safe to put on the wire and in a JSON record.
		for _, leg := range []actors.LegOptions{o.Initiator, o.Destination} {
			if n := len(leg.Headers); n > MaxHeaders {
				t.Fatalf("%d headers taken", n)
			}
			for _, h := range leg.Headers {
				if strings.ContainsAny(h.Name+h.Value, "\r\n\x00") || !config.IsHeaderName(h.Name) || config.ReservedHeader(h.Name) {
					t.Fatalf("header %q: %q taken", h.Name, h.Value)
				}
			}
			if id := leg.CallerID; id != nil {
				if strings.ContainsAny(id.DisplayName, "\"\\\r\n") {
					t.Fatalf("display name %q taken", id.DisplayName)
				}
				if id.URI != "" && config.ValidateSIPURI(id.URI) != nil {
					t.Fatalf("caller URI %q taken", id.URI)
				}
			}
			if leg.RingTimeout < 0 || leg.RingTimeout > 2*time.Minute {
				t.Fatalf("ring timeout %v taken", leg.RingTimeout)
			}
		}
		if o.Metadata != nil && (len(o.Metadata) > MaxMetadata || !json.Valid(o.Metadata) || o.Metadata[0] != '{') {
			t.Fatalf("metadata %q taken", o.Metadata)
		}
	})
}
