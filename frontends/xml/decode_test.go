package xml

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/clicktocall/clicktocall/actors"
	"github.com/clicktocall/clicktocall/intake"
	"github.com/clicktocall/clicktocall/intake/calloptions"
)

// decodeAll reads every document of input.
func decodeAll(input string, limit int) ([]*request, error) { return decodeWith(input, limit, false) }

const seedRequest = "<ClickToCall>\n<Request>\n<Initiator>sip:scott@sipdomain.com</Initiator>\n<Destination>9055551234</Destination>\n<AnchorCall>false</AnchorCall>\n</Request>\n</ClickToCall>\n"

func TestDecoderAcceptsWellFormedVariants(t *testing.T) {
	tests := []struct {
		name                   string
		input                  string
		raw                    string // the echoed <Request> element
		initiator, destination string
		anchor                 string
		hasAnchor              bool
	}{
		{
			name:        "seed example",
			input:       seedRequest,
			raw:         "<Request>\n<Initiator>sip:scott@sipdomain.com</Initiator>\n<Destination>9055551234</Destination>\n<AnchorCall>false</AnchorCall>\n</Request>",
			initiator:   "sip:scott@sipdomain.com",
			destination: "9055551234",
			anchor:      "false", hasAnchor: true,
		},
		{
			name:        "prolog, comments, attributes",
			input:       `<?xml version="1.0" encoding="UTF-8"?><!-- hi --><ClickToCall version="2"><!-- c --><Request id='7'><Initiator kind="sip">sip:a@b</Initiator><!-- x --><Destination>123</Destination></Request></ClickToCall>`,
			raw:         `<Request id='7'><Initiator kind="sip">sip:a@b</Initiator><!-- x --><Destination>123</Destination></Request>`,
			initiator:   "sip:a@b",
			destination: "123",
		},
		{
			name:        "names in any case",
			input:       "<clicktocall><REQUEST><initiator>1</initiator><DESTINATION>2</DESTINATION><anchorcall>TRUE</anchorcall></REQUEST></clicktocall>",
			raw:         "<REQUEST><initiator>1</initiator><DESTINATION>2</DESTINATION><anchorcall>TRUE</anchorcall></REQUEST>",
			initiator:   "1",
			destination: "2",
			anchor:      "TRUE", hasAnchor: true,
		},
		{
			name:        "entities and character references are decoded, echo keeps them",
			input:       "<ClickToCall><Request><Initiator>sip:a&amp;b@x&lt;&gt;&quot;&apos;</Initiator><Destination>&#57;&#x30;5</Destination></Request></ClickToCall>",
			raw:         "<Request><Initiator>sip:a&amp;b@x&lt;&gt;&quot;&apos;</Initiator><Destination>&#57;&#x30;5</Destination></Request>",
			initiator:   `sip:a&b@x<>"'`,
			destination: "905",
		},
		{
			name:        "CRLF and whitespace everywhere",
			input:       "\r\n\t <ClickToCall >\r\n <Request\r\n>\r\n\t<Initiator> 1 </Initiator >\r\n<Destination>\r\n2\r\n</Destination>\r\n</Request>\r\n</ClickToCall>\r\n\r\n",
			raw:         "<Request\r\n>\r\n\t<Initiator> 1 </Initiator >\r\n<Destination>\r\n2\r\n</Destination>\r\n</Request>",
			initiator:   " 1 ",
			destination: "\n2\n",
		},
		{
			name:        "CDATA and a byte order mark",
			input:       "\uFEFF<ClickToCall><Request><Initiator><![CDATA[sip:a@b]]></Initiator><Destination>2</Destination></Request></ClickToCall>",
			raw:         "<Request><Initiator><![CDATA[sip:a@b]]></Initiator><Destination>2</Destination></Request>",
			initiator:   "sip:a@b",
			destination: "2",
		},
		{
			name:  "self-closing root",
			input: `<ClickToCall a="1"/>`,
		},
		{
			name:  "self-closing request",
			input: "<ClickToCall><Request/></ClickToCall>",
			raw:   "<Request/>",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reqs, err := decodeAll(tt.input, 0)
			if err != io.EOF {
				t.Fatalf("error %v, want io.EOF after the document", err)
			}
			if len(reqs) != 1 {
				t.Fatalf("got %d requests, want 1", len(reqs))
			}
			r := reqs[0]
			if string(r.raw) != tt.raw {
				t.Errorf("raw %q, want %q", r.raw, tt.raw)
			}
			if r.unknown != "" || r.duplicate != "" || r.nested != "" {
				t.Errorf("problems unknown=%q duplicate=%q nested=%q, want none", r.unknown, r.duplicate, r.nested)
			}
			if r.initiator != tt.initiator || r.destination != tt.destination || r.anchor != tt.anchor || r.hasAnchor != tt.hasAnchor {
				t.Errorf("got %q %q %q/%v, want %q %q %q/%v", r.initiator, r.destination, r.anchor, r.hasAnchor,
					tt.initiator, tt.destination, tt.anchor, tt.hasAnchor)
			}
		})
	}
}

func TestDecoderReadsDocumentsBackToBack(t *testing.T) {
	input := `<?xml version="1.0"?><ClickToCall><Request><Initiator>1</Initiator><Destination>2</Destination></Request></ClickToCall>` +
		`<?xml version="1.0"?><Other/>` + "\n\n" +
		`<ClickToCall><Request><Initiator>3</Initiator><Destination>4</Destination></Request></ClickToCall>`
	reqs, err := decodeAll(input, 0)
	if err != io.EOF {
		t.Fatalf("error %v, want io.EOF", err)
	}
	if len(reqs) != 3 {
		t.Fatalf("got %d requests, want 3", len(reqs))
	}
	if reqs[0].initiator != "1" || reqs[1].unknown != "Other" || reqs[2].initiator != "3" {
		t.Errorf("got %+v %+v %+v", reqs[0], reqs[1], reqs[2])
	}
}

func TestDecoderMarksUnknownAndOddStructure(t *testing.T) {
	tests := []struct {
		name, input                string
		unknown, duplicate, nested string
	}{
		{"unknown root", "<Hangup><Request/></Hangup>", "Hangup", "", ""},
		{"unknown request element", "<ClickToCall><Transfer/></ClickToCall>", "Transfer", "", ""},
		{"field twice", "<ClickToCall><Request><Initiator>1</Initiator><initiator>2</initiator></Request></ClickToCall>", "", "Initiator", ""},
		{"two requests", "<ClickToCall><Request/><Request/></ClickToCall>", "", "Request", ""},
		{"element inside a field", "<ClickToCall><Request><Destination><b>1</b></Destination></Request></ClickToCall>", "", "", "Destination"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reqs, err := decodeAll(tt.input, 0)
			if err != io.EOF || len(reqs) != 1 {
				t.Fatalf("got %d requests and %v, want 1 and io.EOF", len(reqs), err)
			}
			r := reqs[0]
			if r.unknown != tt.unknown || r.duplicate != tt.duplicate || r.nested != tt.nested {
				t.Errorf("unknown=%q duplicate=%q nested=%q, want %q %q %q", r.unknown, r.duplicate, r.nested, tt.unknown, tt.duplicate, tt.nested)
			}
		})
	}
}

func TestDecoderRejectsUnreadableInput(t *testing.T) {
	tests := []struct {
		name, input string
		limit       int
		code        int
	}{
		{"not XML", "GET / HTTP/1.0\r\n\r\n", 0, 400},
		{"mismatched tags", "<ClickToCall><Request></ClickToCall>", 0, 400},
		{"unknown entity", "<ClickToCall><Request><Initiator>&nbsp;</Initiator></Request></ClickToCall>", 0, 400},
		{"cut short by the end of input", "<ClickToCall><Request><Init", 0, 400},
		{"prolog only", `<?xml version="1.0"?>`, 0, 400},
		{"text at top level after a document", "<a/>junk", 0, 400},
		{"end tag at top level", "</ClickToCall>", 0, 400},
		{"undeclared encoding", `<?xml version="1.0" encoding="ISO-8859-1"?><ClickToCall/>`, 0, 400},
		{"invalid UTF-8", "<ClickToCall><Request><Initiator>\xff</Initiator></Request></ClickToCall>", 0, 400},
		{"control character", "<ClickToCall><Request><Initiator>\x01</Initiator></Request></ClickToCall>", 0, 400},
		{"over the size limit", "<ClickToCall><Request><Initiator>" + strings.Repeat("1", 200) + "</Initiator></Request></ClickToCall>", 100, 413},
		{"comments over the size limit", strings.Repeat("<!-- padding -->", 20) + "<ClickToCall/>", 100, 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeAll(tt.input, tt.limit)
			var rerr *requestError
			if !errors.As(err, &rerr) || rerr.code != tt.code {
				t.Fatalf("error %v, want a %d request error", err, tt.code)
			}
		})
	}
}

// A client that sends no markup at all is answered without waiting for more input.
func TestDecoderAnswersNonXMLWithoutWaiting(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close()
	go func() { _, _ = pw.Write([]byte("hello\n")) }()
	done := make(chan error, 1)
	go func() {
		_, err := newRequestDecoder(bufio.NewReader(pr), 0).next()
		done <- err
	}()
	select {
	case err := <-done:
		var rerr *requestError
		if !errors.As(err, &rerr) || rerr.code != 400 {
			t.Fatalf("error %v, want 400 Parse error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("decoder still waiting for input after non-XML text")
	}
}

func TestDecoderPassesConnectionErrorsThrough(t *testing.T) {
	boom := errors.New("connection reset")
	r := io.MultiReader(strings.NewReader("<ClickToCall><Req"), errReader{boom})
	_, err := newRequestDecoder(bufio.NewReader(r), 0).next()
	if !errors.Is(err, boom) {
		t.Fatalf("error %v, want the connection's error", err)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func TestCallRequestChecksAndTranslates(t *testing.T) {
	long := strings.Repeat("1", intake.MaxValueLen+1)
	tests := []struct {
		name string
		req  request
		code int
		text string
		want string // "initiator destination anchor" when accepted
	}{
		{"accepted, trimmed", request{initiator: " sip:a@b\n", destination: "\t123 ", anchor: " True ", hasAnchor: true}, 0, "", "sip:a@b sip:123@gateway.com true"},
		{"anchor absent", request{initiator: "1", destination: "2"}, 0, "", "sip:1@gateway.com sip:2@gateway.com false"},
		{"anchor not true", request{initiator: "1", destination: "2", anchor: "yes", hasAnchor: true}, 0, "", "sip:1@gateway.com sip:2@gateway.com false"},
		{"unknown method", request{unknown: "Hangup", initiator: "1", destination: "2"}, 400, "Unknown method", ""},
		{"missing destination", request{initiator: "1"}, 400, "Missing initiator and/or destination tags", ""},
		{"blank initiator", request{initiator: " \n ", destination: "2"}, 400, "Missing initiator and/or destination tags", ""},
		{"duplicate", request{duplicate: "Initiator", initiator: "1", destination: "2"}, 400, "Duplicate Initiator tag", ""},
		{"nested", request{nested: "Destination", initiator: "1", destination: "2"}, 400, "Destination must contain text only", ""},
		{"too long", request{initiator: "1", destination: long}, 400, "Destination too long (more than 1024 bytes)", ""},
		{"control character", request{initiator: "sip:a\tb@c", destination: "2"}, 400, "Initiator contains control characters", ""},
		{"no rule", request{initiator: "1", destination: "bob"}, 400, "No translation rule for bob", ""},
		{"invalid URI", request{initiator: "bad-uri", destination: "2"}, 400, "Invalid URI format sip:bad uri", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			call, rerr := tt.req.callRequest(testTranslate, calloptions.Default())
			if tt.code != 0 {
				if rerr == nil || rerr.code != tt.code || rerr.text != tt.text {
					t.Fatalf("got %+v, want %d %q", rerr, tt.code, tt.text)
				}
				return
			}
			if rerr != nil {
				t.Fatalf("rejected with %d %q", rerr.code, rerr.text)
			}
			got := call.Initiator + " " + call.Destination + " " + map[bool]string{true: "true", false: "false"}[call.Anchor]
			if got != tt.want || call.Origin != "xml" {
				t.Errorf("got %q origin %q, want %q origin xml", got, call.Origin, tt.want)
			}
		})
	}
}

func TestDecoderReadsTheOptionElements(t *testing.T) {
	reqs, err := decodeAll(`<ClickToCall><Request><Initiator>1</Initiator><Destination>2</Destination>
<initiatorcallerid>"Sales" &lt;sip:+15551234567@example.com&gt;</initiatorcallerid>
<DestinationCallerId>Support</DestinationCallerId>
<InitiatorRingTimeout> 20 </InitiatorRingTimeout><DestinationRingTimeout>30</DestinationRingTimeout>
<TimeLimit>600</TimeLimit>
<InitiatorHeader Name="X-Ticket">T-42</InitiatorHeader>
<InitiatorHeader name="Alert-Info">&lt;http://example.com/ring&gt;</InitiatorHeader>
<DestinationHeader Name="X-Campaign">spring</DestinationHeader>
<Metadata>{"crm": 42}</Metadata>
</Request></ClickToCall>`, 0)
	if err != io.EOF || len(reqs) != 1 {
		t.Fatalf("decode: %d requests, %v", len(reqs), err)
	}
	o := reqs[0].options
	if o.InitiatorCallerID != `"Sales" <sip:+15551234567@example.com>` || o.DestinationCallerID != "Support" ||
		o.InitiatorRingTimeout != " 20 " || o.DestinationRingTimeout != "30" || o.TimeLimit != "600" || o.Metadata != `{"crm": 42}` {
		t.Errorf("options %+v", o)
	}
	if len(o.InitiatorHeaders) != 2 || o.InitiatorHeaders[0].Name != "X-Ticket" || o.InitiatorHeaders[0].Value != "T-42" ||
		o.InitiatorHeaders[1].Name != "Alert-Info" || o.InitiatorHeaders[1].Value != "<http://example.com/ring>" {
		t.Errorf("initiator headers %+v", o.InitiatorHeaders)
	}
	if len(o.DestinationHeaders) != 1 || o.DestinationHeaders[0].Value != "spring" {
		t.Errorf("destination headers %+v", o.DestinationHeaders)
	}
	if reqs[0].duplicate != "" {
		t.Errorf("repeated header elements counted as a duplicate %s", reqs[0].duplicate)
	}
}

func TestDecoderRefusesAnOptionGivenTwiceOrNested(t *testing.T) {
	reqs, err := decodeAll(`<ClickToCall><Request><Initiator>1</Initiator><Destination>2</Destination>`+
		`<TimeLimit>1</TimeLimit><TimeLimit>2</TimeLimit></Request></ClickToCall>`+
		`<ClickToCall><Request><Initiator>1</Initiator><Destination>2</Destination>`+
		`<InitiatorHeader Name="X-A"><b>1</b></InitiatorHeader></Request></ClickToCall>`, 0)
	if err != io.EOF || len(reqs) != 2 {
		t.Fatalf("decode: %d requests, %v", len(reqs), err)
	}
	if reqs[0].duplicate != "TimeLimit" || reqs[1].nested != "InitiatorHeader" {
		t.Errorf("duplicate %q, nested %q", reqs[0].duplicate, reqs[1].nested)
	}
}

func TestCallRequestRefusesABadOptionNamingIt(t *testing.T) {
	for _, c := range []struct {
		options calloptions.Raw
		text    string
	}{
		{calloptions.Raw{InitiatorCallerID: "sip:+15551234567@example.com"},
			"initiator_caller_id: caller IDs are not enabled on this server (api.caller_ids is empty)"},
		{calloptions.Raw{DestinationRingTimeout: "121"},
			"destination_ring_timeout: 121 seconds is above this server's maximum of 120 (api.max_ring_timeout)"},
		{calloptions.Raw{InitiatorHeaders: []actors.Header{{Name: "X-A", Value: "1\r\nVia: x"}}},
			"initiator_headers: the value of X-A contains CR or LF"},
	} {
		r := request{initiator: "1", destination: "2", options: c.options}
		_, rerr := r.callRequest(testTranslate, calloptions.Default())
		if rerr == nil || rerr.code != 400 || rerr.text != c.text {
			t.Errorf("%+v: %+v, want 400 %q", c.options, rerr, c.text)
		}
	}
}

// BenchmarkDecodeRequest decodes documents as a load generator sends them,
// back to back on one connection.
func BenchmarkDecodeRequest(b *testing.B) {
	doc := "<ClickToCall><Request><Initiator>sip:100001@127.0.0.1:15070</Initiator><Destination>sip:200001@127.0.0.1:15080</Destination><AnchorCall>false</AnchorCall></Request></ClickToCall>\n"
	input := strings.Repeat(doc, 64)
	r := strings.NewReader(input)
	br := bufio.NewReader(r)
	d := newRequestDecoder(br, 0)
	b.ReportAllocs()
	b.SetBytes(int64(len(doc)))
	for i := 0; b.Loop(); i++ {
		if i%64 == 0 {
			r.Reset(input)
		}
		req, err := d.next()
		if err != nil || req.destination != "sip:200001@127.0.0.1:15080" {
			b.Fatalf("got %+v, %v", req, err)
		}
	}
}

// The plain shape is read without the xml.Decoder, and any document read
// either way gives the same request and the same error.
func TestPlainDocumentsDecodeAsTheDecoderDoes(t *testing.T) {
	plain := []string{
		seedRequest,
		"<ClickToCall><Request><Initiator>sip:1@h</Initiator><Destination>sip:2@h</Destination><AnchorCall>false</AnchorCall></Request></ClickToCall>",
		"<ClickToCall><Request><AnchorCall>true</AnchorCall><Destination>2</Destination><Initiator>1</Initiator></Request></ClickToCall>",
		"<ClickToCall> \r\n\t<Request><Initiator>a b</Initiator>\r\n</Request>\n</ClickToCall>",
		"<ClickToCall><Request><Initiator></Initiator><AnchorCall></AnchorCall></Request></ClickToCall>",
		"<ClickToCall><Request></Request></ClickToCall>",
		`<?xml version="1.0"?><ClickToCall><Request><Initiator>1</Initiator></Request></ClickToCall>`,
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ClickToCall><Request><Initiator>1</Initiator></Request></ClickToCall>",
		`<?xml version="1.0" encoding="utf-8"?><ClickToCall><Request><Destination>2</Destination></Request></ClickToCall>`,
	}
	other := []string{
		`<?xml version="1.1"?><ClickToCall><Request><Initiator>1</Initiator></Request></ClickToCall>`,
		`<?xml version="1.0" encoding="ISO-8859-1"?><ClickToCall><Request><Initiator>1</Initiator></Request></ClickToCall>`,
		`<?xml version='1.0'?><ClickToCall><Request><Initiator>1</Initiator></Request></ClickToCall>`,
		`<?xml version="1.0"?><!-- c --><ClickToCall><Request><Initiator>1</Initiator></Request></ClickToCall>`,
		`<?xml version="1.0"?><?xml version="1.0"?><ClickToCall><Request><Initiator>1</Initiator></Request></ClickToCall>`,
		"<ClickToCall><Request><Initiator>1</Initiator><Initiator>2</Initiator></Request></ClickToCall>",
		"<ClickToCall><Request><AnchorCall>true</AnchorCall><AnchorCall>false</AnchorCall></Request></ClickToCall>",
		"<ClickToCall><Request><Initiator>a&amp;b</Initiator></Request></ClickToCall>",
		"<ClickToCall><Request><Initiator>1 > 0</Initiator></Request></ClickToCall>",
		"<ClickToCall><Request><Initiator>caf\u00e9</Initiator></Request></ClickToCall>",
		"<ClickToCall><Request><Initiator>a\tb\r\nc</Initiator></Request></ClickToCall>",
		"<ClickToCall><Request id=\"1\"><Initiator>1</Initiator></Request></ClickToCall>",
		"<clicktocall><Request><Initiator>1</Initiator></Request></clicktocall>",
		"<ClickToCall><Request><Initiator>1</Initiator><TimeLimit>30s</TimeLimit></Request></ClickToCall>",
		"<ClickToCall><Request><Initiator><b>1</b></Initiator></Request></ClickToCall>",
		"<ClickToCall><Request><Initiator/></Request></ClickToCall>",
		"<ClickToCall/>",
		"<ClickToCall><Request><Initiator>1</Initiator></Request><Request></Request></ClickToCall>",
		"<ClickToCall><Request><Initiator>1</Initiator></Request>",
		"<ClickToCall><Request><Initiator>1</Initiator></Request></ClickToCal>",
		"<ClickToCall><Request><Initiator>1</Initiator></Request></ClickToCall",
		"<Other><Request><Initiator>1</Initiator></Request></Other>",
	}
	for _, doc := range plain {
		d := newRequestDecoder(bufio.NewReader(strings.NewReader(doc+"<")), 0)
		_, _ = d.src.Peek(len(doc) + 1)
		if d.plainDocument() == nil {
			t.Errorf("%q: not read as a plain document", doc)
		}
	}
	for _, doc := range other {
		d := newRequestDecoder(bufio.NewReader(strings.NewReader(doc)), 0)
		_, _ = d.src.Peek(len(doc))
		if d.plainDocument() != nil {
			t.Errorf("%q: read as a plain document", doc)
		}
	}
	// One stream of all of them, and each alone, also cut short and
	// under a size limit a byte short of it: both ways agree.
	inputs := []string{strings.Join(append(append([]string{}, plain...), other...), "\n")}
	for _, doc := range append(append([]string{}, plain...), other...) {
		inputs = append(inputs, doc, doc[:len(doc)-3], doc+doc)
	}
	for _, in := range inputs {
		for _, limit := range []int{0, len(strings.TrimSpace(in)) - 1} {
			if limit < 0 {
				continue
			}
			fast, fastErr := decodeWith(in, limit, false)
			slow, slowErr := decodeWith(in, limit, true)
			if !reflect.DeepEqual(fast, slow) || fmt.Sprint(fastErr) != fmt.Sprint(slowErr) {
				t.Errorf("%q (limit %d):\nplain   %s %v\ndecoder %s %v", in, limit, describe(fast), fastErr, describe(slow), slowErr)
			}
		}
	}
}

// decodeWith reads every document of input, with noFast through the
// xml.Decoder only.
func decodeWith(input string, limit int, noFast bool) ([]*request, error) {
	d := newRequestDecoder(bufio.NewReader(strings.NewReader(input)), limit)
	d.noFast = noFast
	var reqs []*request
	for {
		req, err := d.next()
		if err != nil {
			return reqs, err
		}
		reqs = append(reqs, req)
	}
}

func describe(reqs []*request) string {
	var b strings.Builder
	for _, r := range reqs {
		fmt.Fprintf(&b, "%+v ", *r)
	}
	return b.String()
}

// FuzzPlainDocument: whatever the input, reading plain documents without
// the xml.Decoder changes nothing.
func FuzzPlainDocument(f *testing.F) {
	f.Add(seedRequest, 0)
	f.Add(`<?xml version="1.0" encoding="UTF-8"?> <ClickToCall><Request><Initiator>1</Initiator></Request></ClickToCall>`, 0)
	f.Add("<ClickToCall><Request><AnchorCall>true</AnchorCall><Initiator>1</Initiator></Request></ClickToCall><ClickToCall/>", 0)
	f.Add("<ClickToCall><Request><Initiator>1</Initiator><Initiator>2</Initiator></Request></ClickToCall>", 60)
	f.Fuzz(func(t *testing.T, in string, limit int) {
		if limit < 0 || limit > 1<<16 {
			return
		}
		fast, fastErr := decodeWith(in, limit, false)
		slow, slowErr := decodeWith(in, limit, true)
		if !reflect.DeepEqual(fast, slow) || fmt.Sprint(fastErr) != fmt.Sprint(slowErr) {
			t.Errorf("%q (limit %d):\nplain   %s %v\ndecoder %s %v", in, limit, describe(fast), fastErr, describe(slow), slowErr)
		}
	})
}
