package xmlclient

import (
	"bufio"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"
)

// seedResponse is the response of behaviour.md §1.2, as the server writes it.
const seedResponse = `<ClickToCall>
<Request>
    <Initiator>sip:scott@sipdomain.com</Initiator>
    <Destination>9055551234</Destination>
    <AnchorCall>false</AnchorCall>
  </Request>
<Response>
<TranslatedInitiator>sip:scott@sipdomain.com</TranslatedInitiator>
<TranslatedDestination>sip:9055551234@gateway.com</TranslatedDestination>
<Result Code="100">In progress</Result>
</Response>
</ClickToCall>
`

func TestParseReadsTheSeedResponse(t *testing.T) {
	r, err := Parse([]byte(seedResponse))
	if err != nil {
		t.Fatal(err)
	}
	want := Response{Initiator: "sip:scott@sipdomain.com", Code: 100, Text: "In progress",
		TranslatedInitiator: "sip:scott@sipdomain.com", TranslatedDestination: "sip:9055551234@gateway.com"}
	if r != want {
		t.Errorf("Parse = %+v\nwant    %+v", r, want)
	}
	if r.Final() {
		t.Error("100 is final")
	}
}

func TestParseToleratesCaseAttributesAndEntities(t *testing.T) {
	cases := []struct {
		name string
		doc  string
		want Response
	}{
		{"leg and code in any order, single quotes",
			`<clicktocall><request><initiator>sip:a@b</initiator></request><response><result leg='Destination' code='200'>Connected to destination</result></response></clicktocall>`,
			Response{Initiator: "sip:a@b", Code: 200, Leg: "Destination", Text: "Connected to destination"}},
		{"entities in text and attribute",
			`<ClickToCall><Request><Initiator>sip:a&amp;b@c</Initiator></Request><Response><Result Code="400" Leg="x&quot;y">No translation rule for &lt;x&gt; &#65;&#x42;</Result></Response></ClickToCall>`,
			Response{Initiator: "sip:a&b@c", Code: 400, Leg: `x"y`, Text: "No translation rule for <x> AB"}},
		{"empty echoed request, whitespace in tags",
			`<ClickToCall><Request></Request><Response><Result  Code = "413" >Request too large</Result ></Response></ClickToCall >`,
			Response{Code: 413, Text: "Request too large"}},
		{"an element whose name starts with Initiator is not it",
			`<ClickToCall><Request><InitiatorName>x</InitiatorName><Initiator>sip:i@h</Initiator></Request><Response><Result Code="486" Leg="Initiator">Failed to connect to initiator</Result></Response></ClickToCall>`,
			Response{Initiator: "sip:i@h", Code: 486, Leg: "Initiator", Text: "Failed to connect to initiator"}},
	}
	for _, c := range cases {
		got, err := Parse([]byte(c.doc))
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if got != c.want {
			t.Errorf("%s:\n got %+v\nwant %+v", c.name, got, c.want)
		}
	}
}

func TestParseRejectsDocumentsWithoutAResult(t *testing.T) {
	for _, doc := range []string{
		`<ClickToCall><Request/></ClickToCall>`,
		`<ClickToCall><Response><Result Code="abc">x</Result></Response></ClickToCall>`,
		`<ClickToCall><Response><Result Code="200">never closed</Response></ClickToCall>`,
	} {
		if _, err := Parse([]byte(doc)); err == nil {
			t.Errorf("Parse(%q): no error", doc)
		}
	}
}

func TestFinal(t *testing.T) {
	cases := []struct {
		code  int
		leg   string
		final bool
	}{{100, "", false}, {180, "Initiator", false}, {200, "Initiator", false}, {180, "Destination", false},
		{200, "Destination", true}, {486, "Initiator", true}, {408, "Destination", true}, {503, "", true}}
	for _, c := range cases {
		if got := (Response{Code: c.code, Leg: c.leg}).Final(); got != c.final {
			t.Errorf("Final(%d %s) = %v", c.code, c.leg, got)
		}
	}
}

func TestScannerSplitsAStreamReadByteByByte(t *testing.T) {
	docs := []string{
		seedResponse,
		`<?xml version="1.0"?><ClickToCall a="1"><Request></Request><Response><Result Code="503">Server shutting down</Result></Response></ClickToCall>`,
		"<clicktocall><Response><Result Code=\"200\" Leg=\"Destination\">ok</Result></Response></clicktocall\n>",
	}
	stream := "\n" + strings.Join(docs, "\r\n")
	s := NewScanner(iotest.OneByteReader(strings.NewReader(stream)), 4096)
	for i, want := range docs {
		got, err := s.Next()
		if err != nil {
			t.Fatalf("document %d: %v", i, err)
		}
		if string(got) != strings.TrimRight(want, "\n") {
			t.Errorf("document %d:\n got %q\nwant %q", i, got, want)
		}
	}
	if _, err := s.Next(); err != io.EOF {
		t.Errorf("after the last document: %v, want io.EOF", err)
	}
}

func TestScannerErrors(t *testing.T) {
	s := NewScanner(strings.NewReader("<ClickToCall><Response>cut off"), 4096)
	if _, err := s.Next(); err != io.ErrUnexpectedEOF {
		t.Errorf("cut-off document: %v, want io.ErrUnexpectedEOF", err)
	}
	s = NewScanner(strings.NewReader("<ClickToCall>"+strings.Repeat("<x>", 100)+"</ClickToCall>"), 64)
	if _, err := s.Next(); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized document: %v, want ErrTooLarge", err)
	}
}

func TestAppendRequestRoundTrips(t *testing.T) {
	doc := AppendRequest(nil, Request{Initiator: "sip:c1@127.0.0.1:5060;transport=tcp", Destination: `sip:<d>&"x"@h`, Anchor: true})
	want := `<ClickToCall><Request><Initiator>sip:c1@127.0.0.1:5060;transport=tcp</Initiator><Destination>sip:&lt;d&gt;&amp;&quot;x&quot;@h</Destination><AnchorCall>true</AnchorCall></Request></ClickToCall>` + "\n"
	if string(doc) != want {
		t.Errorf("AppendRequest:\n got %s\nwant %s", doc, want)
	}
}

// fakeServer answers every request on a connection with a 100 and a final
// 200 Destination echoing the request, and closes after the client's EOF.
func fakeServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				s := NewScanner(c, 1<<16)
				w := bufio.NewWriter(c)
				for {
					doc, err := s.Next()
					if err != nil {
						_ = w.Flush()
						return
					}
					req := strings.TrimSuffix(strings.TrimPrefix(string(doc), "<ClickToCall>"), "</ClickToCall>")
					w.WriteString("<ClickToCall>\n" + req + "\n<Response>\n<Result Code=\"100\">In progress</Result>\n</Response>\n</ClickToCall>\n")
					w.WriteString("<ClickToCall>\n" + req + "\n<Response>\n<Result Code=\"200\" Leg=\"Destination\">Connected to destination</Result>\n</Response>\n</ClickToCall>\n")
					if s.r.Buffered() == 0 {
						_ = w.Flush()
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func TestConnPipelinesRequestsAndDeliversEveryResponse(t *testing.T) {
	addr := fakeServer(t)
	var mu sync.Mutex
	finals := map[string]int{}
	var all int
	c, err := Dial(addr, time.Second, 16, func(r Response, at time.Time) {
		mu.Lock()
		defer mu.Unlock()
		all++
		if r.Final() {
			finals[r.Initiator]++
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const n = 500
	for i := range n {
		c.Send(Request{Initiator: "sip:c" + string(rune('a'+i%26)) + "@h", Destination: "sip:d@h"})
	}
	c.CloseWrite()
	select {
	case <-c.ReadDone():
	case <-time.After(10 * time.Second):
		t.Fatal("server did not close the connection after the last response")
	}
	if err := c.Err(); err != nil {
		t.Errorf("Err = %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if all != 2*n || len(finals) != 26 {
		t.Errorf("got %d responses, finals for %d initiators; want %d and 26", all, len(finals), 2*n)
	}
}

func TestEndsDocument(t *testing.T) {
	for doc, want := range map[string]bool{
		"<ClickToCall><Result/></ClickToCall>":      true,
		"<clicktocall></CLICKTOCALL \n>":            true,
		"<ClickToCall><Request></Request>":          false,
		"<ClickToCall></ClickToCall><Result>":       false,
		"<ClickToCall><a></a><b/>":                  false,
		"<ClickToCall>x < </ClickToCallx>":          false,
		"</ClickToCall>":                            true,
		">":                                         false,
		"<ClickToCall></ClickToCall><x></x>":        false,
		"<ClickToCall>a</b></ClickToCall\t\r\n>":    true,
		"<ClickToCall></ClickToCall></ClickToCall>": true,
	} {
		if got := endsDocument([]byte(doc)); got != want {
			t.Errorf("endsDocument(%q) = %v, want %v", doc, got, want)
		}
	}
}
