package xml

import (
	"bytes"
	"encoding/xml"
	"io"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/clicktocall/clicktocall/actors"
	"github.com/clicktocall/clicktocall/config"
	"github.com/clicktocall/clicktocall/intake/calloptions"
)

func TestResponseHasTheShapeOfTheSpec(t *testing.T) {
	raw := []byte("<Request>\n<Initiator>sip:scott@sipdomain.com</Initiator>\n</Request>")
	got := string(appendResponse(nil, raw, result{code: 100, text: "In progress",
		initiator: "sip:scott@sipdomain.com", destination: "sip:9055551234@gateway.com"}))
	want := "<ClickToCall>\n<Request>\n<Initiator>sip:scott@sipdomain.com</Initiator>\n</Request>\n<Response>\n" +
		"<TranslatedInitiator>sip:scott@sipdomain.com</TranslatedInitiator>\n" +
		"<TranslatedDestination>sip:9055551234@gateway.com</TranslatedDestination>\n" +
		"<Result Code=\"100\">In progress</Result>\n</Response>\n</ClickToCall>\n"
	if got != want {
		t.Errorf("100 response:\n%s\nwant:\n%s", got, want)
	}

	got = string(appendResponse(nil, nil, result{code: 486, leg: actors.LegInitiator, text: `Failed <to> connect & "so"`}))
	want = "<ClickToCall>\n<Request></Request>\n<Response>\n" +
		"<Result Code=\"486\" Leg=\"Initiator\">Failed &lt;to&gt; connect &amp; &#34;so&#34;</Result>\n</Response>\n</ClickToCall>\n"
	if got != want {
		t.Errorf("failure response:\n%s\nwant:\n%s", got, want)
	}
}

// parsedResponse is a response document as a client reads it.
type parsedResponse struct {
	XMLName xml.Name `xml:"ClickToCall"`
	Request struct {
		Inner       string `xml:",innerxml"`
		Initiator   string `xml:"Initiator"`
		Destination string `xml:"Destination"`
	} `xml:"Request"`
	Response struct {
		TranslatedInitiator   *string `xml:"TranslatedInitiator"`
		TranslatedDestination *string `xml:"TranslatedDestination"`
		Result                struct {
			Code       int     `xml:"Code,attr"`
			Leg        *string `xml:"Leg,attr"`
			RetryAfter int     `xml:"RetryAfter,attr"`
			Text       string  `xml:",chardata"`
		} `xml:"Result"`
	} `xml:"Response"`
}

func (r parsedResponse) leg() string {
	if r.Response.Result.Leg == nil {
		return "-"
	}
	return *r.Response.Result.Leg
}

func (r parsedResponse) final() bool {
	code := r.Response.Result.Code
	return code >= 300 || code >= 200 && r.leg() == "Destination"
}

// parseOne parses a single response document strictly: one root, nothing after it.
func parseOne(doc []byte) (parsedResponse, error) {
	var r parsedResponse
	d := xml.NewDecoder(bytes.NewReader(doc))
	if err := d.Decode(&r); err != nil {
		return r, err
	}
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return r, nil
		}
		if err != nil {
			return r, err
		}
		if cd, ok := tok.(xml.CharData); !ok || len(bytes.TrimSpace(cd)) > 0 {
			return r, io.ErrUnexpectedEOF
		}
	}
}

// xmlSafe is what escaping makes of s: characters XML cannot carry become U+FFFD.
func xmlSafe(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		if r == utf8.RuneError && size == 1 || !(r == 0x09 || r == 0x0A || r == 0x0D ||
			r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF) {
			r = utf8.RuneError
		}
		b.WriteRune(r)
	}
	return b.String()
}

func FuzzResponseRoundTrip(f *testing.F) {
	f.Add("In progress", "sip:a@b", "sip:c@d", 100)
	f.Add(`<>&"'`, "sip:a&b@c;x=<y>", "]]>", 486)
	f.Add("\r\n\t \x00\x1f\x7f\xff\xfe", "\uFFFD\U0010FFFF", "\ud7ff", 603)
	f.Add("", "", "", 0)
	f.Fuzz(func(t *testing.T, text, initiator, destination string, code int) {
		doc := appendResponse(nil, nil, result{code: code, leg: actors.LegDestination, text: text,
			initiator: initiator, destination: destination})
		r, err := parseOne(doc)
		if err != nil {
			t.Fatalf("response does not parse: %v\n%q", err, doc)
		}
		if r.Response.Result.Code != code || r.leg() != "Destination" {
			t.Errorf("code %d leg %s, want %d Destination", r.Response.Result.Code, r.leg(), code)
		}
		if got, want := r.Response.Result.Text, xmlSafe(text); got != want {
			t.Errorf("text %q, want %q", got, want)
		}
		if initiator != "" || destination != "" {
			if r.Response.TranslatedInitiator == nil || *r.Response.TranslatedInitiator != xmlSafe(initiator) ||
				r.Response.TranslatedDestination == nil || *r.Response.TranslatedDestination != xmlSafe(destination) {
				t.Errorf("translated %v %v, want %q %q", r.Response.TranslatedInitiator, r.Response.TranslatedDestination, initiator, destination)
			}
		}
	})
}

func FuzzDecodeRequest(f *testing.F) {
	f.Add([]byte(seedRequest), 256)
	f.Add([]byte(`<?xml version="1.0"?><!--c--><clicktocall a="1"><request><initiator>&amp;1</initiator><destination><![CDATA[2]]></destination></request></clicktocall><ClickToCall/>`), 64)
	f.Add([]byte("<ClickToCall><Request><Initiator>1</Initiator></Request></ClickToCall>\r\n<ClickToCall><Request/><Request/></ClickToCall>"), 100)
	f.Add([]byte("<a:ClickToCall xmlns:a='x'><a:Request><a:Initiator>1</a:Initiator></a:Request></a:ClickToCall>"), 1000)
	f.Add([]byte("not xml"), 10)
	f.Add([]byte(`<ClickToCall><Request><Initiator>1</Initiator><Destination>2</Destination>`+
		`<InitiatorCallerId>Sales &lt;sip:+15551234567@example.com&gt;</InitiatorCallerId><DestinationCallerId>Support</DestinationCallerId>`+
		`<InitiatorRingTimeout>20</InitiatorRingTimeout><DestinationRingTimeout>30</DestinationRingTimeout><TimeLimit>60</TimeLimit>`+
		`<InitiatorHeader Name="X-Ticket">T-42</InitiatorHeader><DestinationHeader name="Alert-Info">&lt;http://x&gt;</DestinationHeader>`+
		`<Metadata>{"crm":{"id":42}}</Metadata></Request></ClickToCall>`), 4096)
	f.Add([]byte(`<ClickToCall><Request><Initiator>1</Initiator><Destination>2</Destination>`+
		`<InitiatorHeader Name="X-A">1&#13;&#10;Via: evil</InitiatorHeader><DestinationHeader>x</DestinationHeader>`+
		`<TimeLimit>99999</TimeLimit><Metadata>[1]</Metadata></Request></ClickToCall>`), 4096)
	policy := fuzzPolicy(f)
	f.Fuzz(func(t *testing.T, input []byte, limit int) {
		limit = 1 + abs(limit)%4096
		d := newRequestDecoder(bufioReader(input), limit)
		for n := 0; ; n++ {
			if n > len(input) {
				t.Fatalf("more documents than input bytes")
			}
			req, err := d.next()
			if err != nil {
				return
			}
			if len(req.raw) > limit {
				t.Fatalf("request element of %d bytes, limit %d", len(req.raw), limit)
			}
			// Options taken can go on the wire as they are.
			if call, rerr := req.callRequest(testTranslate, policy); rerr == nil {
				if p := call.Options.WireProblem(); p != "" {
					t.Fatalf("%q: the engine would get options it cannot send: %s", input, p)
				}
			}
			// Whatever was accepted can be echoed in a well-formed response.
			doc := appendResponse(nil, req.raw, result{code: 400, text: "Unknown method"})
			if _, err := parseOne(doc); err != nil {
				t.Fatalf("echo of %q does not parse: %v", req.raw, err)
			}
		}
	})
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// fuzzPolicy allows caller IDs and one header name besides X-, so that
// accepted options are fuzzed too.
func fuzzPolicy(f *testing.F) *calloptions.Policy {
	a := config.Default().API
	a.CallerIDs = []string{`sip:\+1555\d{7}@example\.com`}
	a.AllowedHeaders = []string{"Alert-Info"}
	p, err := calloptions.NewPolicy(a)
	if err != nil {
		f.Fatal(err)
	}
	return p
}
