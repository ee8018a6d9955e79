package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// Per-call options (caller IDs, headers, ring timeouts, time limit,
// metadata) through the binary's three interfaces, with SIPp phones: what
// each phone received, and the refusals that send nothing.

// optionsServer is a server whose api { } allows the caller IDs and the
// header these tests use, with P-Asserted-Identity on, status callbacks
// and a CDR file.
func optionsServer(t *testing.T, o serverOptions) *e2eServer {
	t.Helper()
	o.sip += "\n  assert_identity = true"
	o.extra += fmt.Sprintf(`
api {
  status_callback_secret = %q
  caller_ids             = ["sip:\\+1555\\d{7}@example\\.com"]
  allowed_headers        = ["Alert-Info"]
}
cdr {
  file = "calls.cdr"
}`, apiCallbackSecret)
	return startServer(t, o)
}

func TestOptionsShapeEachPhonesINVITEAndMetadataComesBackEverywhere(t *testing.T) {
	t.Parallel()
	ini := startPhone(t, "initiator_answers_reinvite", "alice", 1)
	dst := startPhone(t, "phone_answers", "bob", 1)
	s := optionsServer(t, serverOptions{})

	var (
		mu         sync.Mutex
		deliveries []apiEvent
		final      = make(chan struct{})
	)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var e apiEvent
		if err := json.Unmarshal(body, &e); err != nil {
			t.Errorf("status callback %q: %v", body, err)
		}
		mu.Lock()
		deliveries = append(deliveries, e)
		mu.Unlock()
		if e.Final {
			close(final)
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rcv.Close)

	c := postCall(t, s, fmt.Sprintf(`{"initiator":%q,"destination":%q,"anchor":true,
		"initiator_caller_id":"Sales <sip:+15551234567@example.com>",
		"destination_caller_id":"\"Support desk\" <sip:+15557654321@example.com>",
		"initiator_headers":{"X-Ticket":"T-42","Alert-Info":"<http://example.com/ring>"},
		"destination_headers":{"X-Campaign":"spring"},
		"metadata":{ "crm": {"id": 42}, "tag": "spring" },
		"status_callback":%q,"status_callback_events":["ringing","final"]}`,
		ini.address(), dst.address(), rcv.URL))
	select {
	case <-final:
	case <-time.After(15 * time.Second):
		t.Fatal("no final status callback within 15s")
	}
	ini.expectSuccess(t, 1)
	dst.expectSuccess(t, 1)

	// On the wire: each phone's INVITE carries its own caller ID and headers.
	invite := find(t, ini.messages(t), "INVITE to the initiator", received("INVITE"))
	expectHeaders(t, "initiator INVITE", invite, map[string]string{
		"P-Asserted-Identity": `"Sales" <sip:+15551234567@example.com>`,
		"X-Ticket":            "T-42",
		"Alert-Info":          "<http://example.com/ring>",
		"X-Campaign":          "",
	})
	if from := invite.header("From"); !strings.HasPrefix(from, `"Sales" <sip:+15551234567@example.com>;tag=`) {
		t.Errorf("initiator INVITE From %q, want the caller ID", from)
	}
	dInvite := find(t, dst.messages(t), "INVITE to the destination", received("INVITE"))
	expectHeaders(t, "destination INVITE", dInvite, map[string]string{
		"P-Asserted-Identity": `"Support desk" <sip:+15557654321@example.com>`,
		"X-Campaign":          "spring",
		"X-Ticket":            "",
		"Alert-Info":          "",
	})
	if from := dInvite.header("From"); !strings.HasPrefix(from, `"Support desk" <sip:+15557654321@example.com>;tag=`) {
		t.Errorf("destination INVITE From %q, want the caller ID", from)
	}

	// The metadata, compacted, in the call, its events, its callbacks and its record.
	const metadata = `{"crm":{"id":42},"tag":"spring"}`
	v := waitView(t, s, c.ID, "ended", ended)
	if string(v.Metadata) != metadata {
		t.Errorf("GET metadata %s, want %s", v.Metadata, metadata)
	}
	events := openEvents(t, s, c.ID, "").all(t)
	expectEvents(t, c.ID, 1, events, anchoredConnected, true)
	for _, e := range events {
		if string(e.Metadata) != metadata {
			t.Errorf("event %d metadata %s, want %s", e.Sequence, e.Metadata, metadata)
		}
	}
	// status_callback_events: only the ringing and the final result, with
	// their places among the call's results.
	mu.Lock()
	got := append([]apiEvent(nil), deliveries...)
	mu.Unlock()
	if len(got) != 2 || got[0].Sequence != 3 || got[0].short() != anchoredConnected[2] ||
		got[1].Sequence != 4 || got[1].short() != anchoredConnected[3] {
		t.Errorf("status callbacks %+v, want the 180 (3) and the final (4)", got)
	}
	for _, e := range got {
		if string(e.Metadata) != metadata {
			t.Errorf("status callback %d metadata %s, want %s", e.Sequence, e.Metadata, metadata)
		}
	}
	record := waitCDR(t, s, c.ID)
	if string(record["metadata"]) != metadata {
		t.Errorf("CDR metadata %s, want %s", record["metadata"], metadata)
	}
}

// expectHeaders checks a message's headers; "" means the header must be absent.
func expectHeaders(t *testing.T, what string, m sipMessage, want map[string]string) {
	t.Helper()
	for name, value := range want {
		if got := m.header(name); got != value {
			t.Errorf("%s %s: %q, want %q", what, name, got, value)
		}
	}
}

// waitCDR waits up to 10 s for call id's line in the server's CDR file.
func waitCDR(t *testing.T, s *e2eServer, id string) map[string]json.RawMessage {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		data, _ := os.ReadFile(filepath.Join(s.dir, "calls.cdr"))
		for _, line := range bytes.Split(data, []byte("\n")) {
			var r map[string]json.RawMessage
			if json.Unmarshal(line, &r) == nil && string(r["call_id"]) == `"`+id+`"` {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no CDR line for %s within 10s:\n%s", id, data)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestOptionsRingTimeoutCancelsTheInitiatorAtItsOwnTime(t *testing.T) {
	t.Parallel()
	ini := startPhone(t, "rings_until_cancel", "alice", 1)
	s := optionsServer(t, serverOptions{ringTimeout: "30s"})
	c := dialXML(t, s)
	start := time.Now()
	c.send(t, `<ClickToCall><Request><Initiator>`+ini.address()+`</Initiator><Destination>9055551234</Destination>`+
		`<InitiatorRingTimeout>1</InitiatorRingTimeout></Request></ClickToCall>`)
	got := c.results(t, 15*time.Second)
	expectSequence(t, got, "100 In progress", "180 Initiator Ringing initiator", "408 Initiator Failed to connect to initiator")
	// The server's own ring timeout is 30 s: only the request's ended it this soon.
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("408 after %v", took)
	}
	ini.expectSuccess(t, 1)
	expectCancelAfter(t, ini, time.Second)
}

func TestOptionsRingTimeoutCancelsTheDestinationAtItsOwnTime(t *testing.T) {
	t.Parallel()
	ini := startPhone(t, "phone_answers", "alice", 1)
	dst := startPhone(t, "rings_until_cancel", "bob", 1)
	s := optionsServer(t, serverOptions{ringTimeout: "30s"})
	// Through the page's form, whose answer reports no progress: the API has it.
	status, body, _ := get(t, http.MethodPost, s.url("/clicktocall.html", nil), "", url.Values{
		"initiator": {ini.address()}, "destination": {dst.address()}, "anchor": {"true"},
		"destination_ring_timeout": {"1"},
	})
	if status != http.StatusOK {
		t.Fatalf("form: %d %s", status, body)
	}
	id := pageCallID(t, body)
	v := waitView(t, s, id, "ended", ended)
	want := []string{"100 In progress", "180 Initiator Ringing initiator", "200 Initiator Connected to initiator",
		"180 Destination Ringing destination", "408 Destination Failed to connect to destination"}
	if strings.Join(v.shorts(), "\n") != strings.Join(want, "\n") {
		t.Errorf("results %q, want %q", v.shorts(), want)
	}
	if took := v.Final.At.Sub(v.CreatedAt); took > 15*time.Second {
		t.Errorf("408 after %v", took)
	}
	ini.expectSuccess(t, 1)
	dst.expectSuccess(t, 1)
	expectCancelAfter(t, dst, time.Second)
	find(t, ini.messages(t), "BYE", received("BYE"))
}

// expectCancelAfter checks, by the times SIPp logged them, that the phone
// got its CANCEL ring after its INVITE: not at once, and long before the
// server's own ring timeout of these tests (30 s).
func expectCancelAfter(t *testing.T, p *phone, ring time.Duration) {
	t.Helper()
	msgs := p.messages(t)
	invite := find(t, msgs, "INVITE", received("INVITE"))
	cancel := find(t, msgs, "CANCEL", received("CANCEL"))
	if after := cancel.at.Sub(invite.at); after < ring-100*time.Millisecond || after > ring+10*time.Second {
		t.Errorf("CANCEL %v after the INVITE, want it at the %v ring timeout", after, ring)
	}
}

// pageCallID reads the call id from the page /clicktocall.html answers with.
func pageCallID(t *testing.T, page string) string {
	t.Helper()
	_, rest, ok := strings.Cut(page, "Call id: ")
	id, _, ok2 := strings.Cut(rest, "<")
	if !ok || !ok2 || id == "" {
		t.Fatalf("no call id in %q", page)
	}
	return id
}

func TestOptionsTimeLimitEndsTheCallWithABYEToEachPhone(t *testing.T) {
	t.Parallel()
	ini := startPhone(t, "initiator_answers_reinvite_until_bye", "alice", 1)
	dst := startPhone(t, "phone_answers", "bob", 1)
	s := optionsServer(t, serverOptions{})
	c := dialXML(t, s)
	c.send(t, `<ClickToCall><Request><Initiator>`+ini.address()+`</Initiator><Destination>`+dst.address()+
		`</Destination><AnchorCall>true</AnchorCall><TimeLimit>1</TimeLimit></Request></ClickToCall>`)
	expectSequence(t, c.results(t, 15*time.Second), anchoredConnected...)
	// Neither phone hangs up by itself: each scenario ends with the server's BYE.
	ini.expectSuccess(t, 1)
	dst.expectSuccess(t, 1)
	expectBridged(t, ini, dst)
	// The call connected when the server ACKed the destination with the
	// answer; each BYE came a time limit (1 s) later.
	dm := dst.messages(t)
	connected := find(t, dm, "ACK", received("ACK")).at
	for _, p := range []*phone{ini, dst} {
		bye := find(t, p.messages(t), "BYE", received("BYE"))
		if after := bye.at.Sub(connected); after < 900*time.Millisecond || after > 10*time.Second {
			t.Errorf("%s got its BYE %v after the call connected, want it at the 1 s time limit", p.user, after)
		}
	}
}

// refusal is one bad option as each interface spells it, and the text all
// three answer with.
type refusal struct {
	name string
	form url.Values // added to the page's form
	json string     // fields added to the JSON body
	xml  string     // elements added to the XML request
	text string
}

func optionRefusals() []refusal {
	var nine, nineJSON, nineXML []string
	for i := 1; i <= 9; i++ {
		nine = append(nine, fmt.Sprintf("X-H%d: %d", i, i))
		nineJSON = append(nineJSON, fmt.Sprintf(`"X-H%d":"%d"`, i, i))
		nineXML = append(nineXML, fmt.Sprintf(`<InitiatorHeader Name="X-H%d">%d</InitiatorHeader>`, i, i))
	}
	big := strings.Repeat("v", 257)
	meta := `{"a":"` + strings.Repeat("x", 1100) + `"}`
	return []refusal{
		{"caller ID outside api.caller_ids",
			url.Values{"initiator_caller_id": {"sip:+15550000000@evil.example.com"}},
			`"initiator_caller_id":"sip:+15550000000@evil.example.com"`,
			`<InitiatorCallerId>sip:+15550000000@evil.example.com</InitiatorCallerId>`,
			"initiator_caller_id: sip:+15550000000@evil.example.com is not allowed by api.caller_ids"},
		{"CRLF in a header value",
			url.Values{"initiator_headers": {"X-A: 1\r\nVia: SIP/2.0/UDP evil"}},
			`"initiator_headers":{"X-A":"1\r\nVia: SIP/2.0/UDP evil"}`,
			`<InitiatorHeader Name="X-A">1&#13;&#10;Via: SIP/2.0/UDP evil</InitiatorHeader>`,
			"initiator_headers: the value of X-A contains CR or LF"},
		{"a forbidden header name",
			url.Values{"destination_headers": {"Via: SIP/2.0/UDP evil"}},
			`"destination_headers":{"Via":"SIP/2.0/UDP evil"}`,
			`<DestinationHeader Name="Via">SIP/2.0/UDP evil</DestinationHeader>`,
			"destination_headers: Via may not be added: only X- headers and api.allowed_headers"},
		{"too many headers",
			url.Values{"initiator_headers": nine},
			`"initiator_headers":{` + strings.Join(nineJSON, ",") + `}`,
			strings.Join(nineXML, ""),
			"initiator_headers: 9 headers, at most 8"},
		{"an oversize header value",
			url.Values{"initiator_headers": {"X-Big: " + big}},
			`"initiator_headers":{"X-Big":"` + big + `"}`,
			`<InitiatorHeader Name="X-Big">` + big + `</InitiatorHeader>`,
			"initiator_headers: the value of X-Big is 257 bytes, at most 256"},
		{"a ring timeout above the maximum",
			url.Values{"destination_ring_timeout": {"121"}},
			`"destination_ring_timeout":121`,
			`<DestinationRingTimeout>121</DestinationRingTimeout>`,
			"destination_ring_timeout: 121 seconds is above this server's maximum of 120 (api.max_ring_timeout)"},
		{"oversize metadata",
			url.Values{"metadata": {meta}},
			`"metadata":` + meta,
			`<Metadata>` + meta + `</Metadata>`,
			fmt.Sprintf("metadata: %d bytes, at most 1024", len(meta))},
	}
}

func TestOptionsRefusedAlikeInEveryInterfaceAndNothingIsSent(t *testing.T) {
	t.Parallel()
	// Both "phones" are one UDP socket that must hear nothing.
	phoneConn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { phoneConn.Close() })
	port := phoneConn.LocalAddr().(*net.UDPAddr).Port
	ini, dst := fmt.Sprintf("alice@local:%d", port), fmt.Sprintf("bob@local:%d", port)
	s := optionsServer(t, serverOptions{})
	xc := dialXML(t, s)
	for _, r := range optionRefusals() {
		t.Run(r.name, func(t *testing.T) {
			form := url.Values{"initiator": {ini}, "destination": {dst}, "anchor": {"true"}}
			for k, v := range r.form {
				form[k] = v
			}
			status, body, _ := get(t, http.MethodPost, s.url("/clicktocall.html", nil), "", form)
			if status != http.StatusBadRequest || !strings.Contains(html.UnescapeString(body), "<p>"+r.text+"</p>") {
				t.Errorf("page form: %d %q, want 400 %q", status, body, r.text)
			}

			status, b, _ := apiDo(t, http.MethodPost, s.url("/api/v1/calls", nil),
				fmt.Sprintf(`{"initiator":%q,"destination":%q,"anchor":true,%s}`, ini, dst, r.json))
			var e struct {
				Code int    `json:"code"`
				Text string `json:"text"`
			}
			decode(t, "API error", b, &e)
			if status != http.StatusBadRequest || e.Code != 400 || e.Text != r.text {
				t.Errorf("JSON API: %d %s, want 400 %q", status, b, r.text)
			}

			xc.send(t, `<ClickToCall><Request><Initiator>`+ini+`</Initiator><Destination>`+dst+
				`</Destination><AnchorCall>true</AnchorCall>`+r.xml+`</Request></ClickToCall>`)
			got := xc.results(t, 5*time.Second)
			expectSequence(t, got, "400 "+r.text)
		})
	}
	// Every refusal was answered; had any call started, its INVITE would
	// have reached the socket by now (it goes out before the answer).
	_ = phoneConn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	buf := make([]byte, 65536)
	if n, _, err := phoneConn.ReadFrom(buf); err == nil {
		t.Errorf("a phone was sent %q", buf[:n])
	}
}

// The XML example exchange of docs/interfaces.md, sent as the page shows
// it: refused by a server with no caller IDs allowed, in the page's words;
// with the page's settings (phones in place of its addresses), the phones'
// INVITEs carry what the page says.
func TestOptionsXMLExampleOfTheDocsIsAnsweredAsShown(t *testing.T) {
	t.Parallel()
	var request, refusal, initiatorHeaders string
	for _, f := range fences(readRepoFile(t, "docs/interfaces.md")) {
		switch {
		case f.info == "xml" && strings.Contains(f.text, "<InitiatorCallerId>"):
			request = f.text
		case f.info == "xml" && strings.Contains(f.text, "initiator_caller_id:"):
			refusal = f.text
		case f.info == "" && strings.Contains(f.text, "P-Asserted-Identity:"):
			initiatorHeaders = f.text
		}
	}
	if request == "" || refusal == "" || initiatorHeaders == "" {
		t.Fatal("docs/interfaces.md lacks the example request, its refusal or the initiator's headers")
	}
	wantRefusal := regexp.MustCompile(`<Result Code="400">([^<]*)</Result>`).FindStringSubmatch(refusal)
	if wantRefusal == nil {
		t.Fatalf("no 400 result in the page's refusal:\n%s", refusal)
	}

	plain := startServer(t, serverOptions{})
	c := dialXML(t, plain)
	c.send(t, request)
	expectSequence(t, c.results(t, 5*time.Second), "400 "+wantRefusal[1])

	ini := startPhone(t, "initiator_answers_reinvite", "alice", 1)
	dst := startPhone(t, "phone_answers", "bob", 1)
	s := optionsServer(t, serverOptions{})
	c = dialXML(t, s)
	c.send(t, strings.NewReplacer("alice@example.com", ini.address(), "9055551234", dst.address()).Replace(request))
	expectSequence(t, c.results(t, 15*time.Second), anchoredConnected...)
	ini.expectSuccess(t, 1)
	dst.expectSuccess(t, 1)
	invite := find(t, ini.messages(t), "INVITE to the initiator", received("INVITE"))
	for _, line := range strings.Split(strings.TrimSpace(initiatorHeaders), "\n") {
		name, value, _ := strings.Cut(line, ": ")
		got := invite.header(name)
		if prefix, ok := strings.CutSuffix(value, "…"); ok {
			if !strings.HasPrefix(got, prefix) {
				t.Errorf("initiator INVITE %s: %q, the page shows %q", name, got, value)
			}
		} else if got != value {
			t.Errorf("initiator INVITE %s: %q, the page shows %q", name, got, value)
		}
	}
	dInvite := find(t, dst.messages(t), "INVITE to the destination", received("INVITE"))
	expectHeaders(t, "destination INVITE", dInvite, map[string]string{
		"P-Asserted-Identity": `"Alice at Example" <sip:+15557654321@example.com>`,
		"X-Campaign":          "spring",
	})
}
