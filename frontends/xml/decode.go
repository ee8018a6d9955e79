package xml

import (
	"bufio"
	"encoding/xml"
	"errors"
	"io"
	"strings"

	"github.com/clicktocall/clicktocall/actors"
	"github.com/clicktocall/clicktocall/config"
	"github.com/clicktocall/clicktocall/intake/calloptions"
)

// DefaultMaxRequestSize is the request size limit when a hand-built
// config.XML leaves it 0: the settings table's (config/table.go).
var DefaultMaxRequestSize = config.Default().XML.MaxRequestSize

// errRequestTooLarge is returned by the recording reader once a document
// passes the size limit; the decoder then stops for good.
var errRequestTooLarge = errors.New("request too large")

// requestError is a request that cannot be read: 400 Parse error or 413. After
// it the byte stream cannot be trusted, so the connection is answered and closed.
type requestError struct {
	code int
	text string
}

func (e *requestError) Error() string { return e.text }

// errorOf is the request error of an ending, with its own text unless
// text says more.
func errorOf(e actors.Ending, text string) *requestError {
	if text == "" {
		text = e.Text()
	}
	return &requestError{e.XMLCode(), text}
}

// request is one decoded document, before validation.
type request struct {
	raw         []byte // the <Request> element as received; nil when there was none
	unknown     string // the unknown root or request element name, "" when it is a ClickToCall request
	duplicate   string // a field given twice
	nested      string // a field that holds an element instead of text
	initiator   string
	destination string
	anchor      string
	hasAnchor   bool
	options     calloptions.Raw
}

// recordingReader hands the xml.Decoder one byte at a time (being an
// io.ByteReader it is not wrapped in another bufio.Reader, so InputOffset maps
// exactly onto the recorded bytes), keeps the bytes of the current document
// so the <Request> element can be echoed as received, and enforces the size
// limit before the decoder allocates anything for an oversized document.
type recordingReader struct {
	src   *bufio.Reader
	doc   []byte
	limit int
	err   error // the first error of src, or errRequestTooLarge
}

func (r *recordingReader) ReadByte() (byte, error) {
	if r.err != nil {
		return 0, r.err
	}
	if len(r.doc) >= r.limit {
		r.err = errRequestTooLarge
		return 0, r.err
	}
	b, err := r.src.ReadByte()
	if err != nil {
		r.err = err
		return 0, err
	}
	r.doc = append(r.doc, b)
	return b, nil
}

// Read is only there because CharsetReader receives the reader as an io.Reader.
func (r *recordingReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	b, err := r.ReadByte()
	if err != nil {
		return 0, err
	}
	p[0] = b
	return 1, nil
}

// requestDecoder reads documents back to back from one connection.
type requestDecoder struct {
	src  *bufio.Reader
	rec  *recordingReader
	dec  *xml.Decoder
	base int64 // dec.InputOffset() of rec.doc[0]
	// onStart, when set, is called when a document's first byte has
	// arrived (for the read timeout).
	onStart func()
	noFast  bool // every document goes through the xml.Decoder (tests)
}

func newRequestDecoder(src *bufio.Reader, limit int) *requestDecoder {
	if limit <= 0 {
		limit = DefaultMaxRequestSize
	}
	rec := &recordingReader{src: src, limit: limit}
	dec := xml.NewDecoder(rec)
	// Only ASCII is a subset of UTF-8 as it is; any other declared encoding
	// is a parse error rather than silently misread text.
	dec.CharsetReader = func(charset string, input io.Reader) (io.Reader, error) {
		switch strings.ToLower(charset) {
		case "us-ascii", "ascii":
			return input, nil
		}
		return nil, errors.New("unsupported encoding " + charset)
	}
	return &requestDecoder{src: src, rec: rec, dec: dec}
}

// next reads the next document. It returns io.EOF when the input ends between
// documents, a *requestError for a document that cannot be read, and any other
// error of the connection as it is.
func (d *requestDecoder) next() (*request, error) {
	d.rec.doc = d.rec.doc[:0]
	d.base = d.dec.InputOffset()
	started := false
	for {
		// Between documents and in the prolog the decoder is only handed
		// markup: whitespace is skipped here, and anything else is answered at
		// once instead of waiting for a '<' that a non-XML client never sends.
		b, err := d.skipSpace()
		if err != nil {
			if err == io.EOF && started {
				return nil, d.fail(io.ErrUnexpectedEOF)
			}
			return nil, err
		}
		if b != '<' {
			return nil, errorOf(actors.EndParseError, "")
		}
		if !started && d.onStart != nil {
			d.onStart()
		}
		if !started && !d.noFast {
			if req := d.plainDocument(); req != nil {
				return req, nil
			}
		}
		started = true
		tok, err := d.dec.Token()
		if err != nil {
			return nil, d.fail(err)
		}
		switch t := tok.(type) {
		case xml.ProcInst, xml.Comment, xml.Directive:
			continue
		case xml.StartElement:
			return d.document(t)
		default: // CDATA or an end tag outside any element
			return nil, errorOf(actors.EndParseError, "")
		}
	}
}

// skipSpace consumes whitespace (and a byte order mark) and peeks at the byte after it.
func (d *requestDecoder) skipSpace() (byte, error) {
	for {
		b, err := d.src.ReadByte()
		if err != nil {
			return 0, err
		}
		switch b {
		case ' ', '\t', '\r', '\n':
			continue
		case 0xEF: // the first byte of a byte order mark
			if bom, err := d.src.Peek(2); err == nil && bom[0] == 0xBB && bom[1] == 0xBF {
				_, _ = d.src.Discard(2)
				continue
			}
		}
		_ = d.src.UnreadByte()
		return b, nil
	}
}

// fail classifies an error of the xml.Decoder: the connection's own errors
// pass through, the size limit is 413, and everything else (including a
// document cut short by the end of input) is a parse error.
func (d *requestDecoder) fail(err error) error {
	switch {
	case errors.Is(d.rec.err, errRequestTooLarge):
		return errorOf(actors.EndTooLarge, "")
	case d.rec.err != nil && d.rec.err != io.EOF:
		return d.rec.err
	}
	return errorOf(actors.EndParseError, "")
}

// document reads the root element and everything in it.
func (d *requestDecoder) document(root xml.StartElement) (*request, error) {
	req := &request{}
	if !strings.EqualFold(root.Name.Local, "ClickToCall") {
		req.unknown = root.Name.Local
	}
	depth := 1
	var (
		field    *string // the value being collected, inside a field element
		fieldSet *bool
		inField  string
		inReq    bool
		reqStart int64
		seenReq  bool
		seen     = map[string]bool{}
	)
	for depth > 0 {
		before := d.dec.InputOffset()
		tok, err := d.dec.Token()
		if err != nil {
			return nil, d.fail(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			switch {
			case depth == 2 && req.unknown == "" && strings.EqualFold(t.Name.Local, "Request"):
				if seenReq {
					req.duplicate = "Request"
				}
				inReq, seenReq, reqStart = !seenReq, true, before
			case depth == 2 && req.unknown == "":
				req.unknown = t.Name.Local
			case depth == 3 && inReq:
				inField, field, fieldSet = "", nil, nil
				name := t.Name.Local
				switch {
				case strings.EqualFold(name, "Initiator"):
					inField, field = "Initiator", &req.initiator
				case strings.EqualFold(name, "Destination"):
					inField, field = "Destination", &req.destination
				case strings.EqualFold(name, "AnchorCall"):
					inField, field, fieldSet = "AnchorCall", &req.anchor, &req.hasAnchor
				default:
					inField, field = req.optionField(t)
				}
				if inField != "" && !repeatable[inField] {
					if seen[inField] && req.duplicate == "" {
						req.duplicate = inField
					}
					seen[inField] = true
					if fieldSet != nil {
						*fieldSet = true
					}
				}
			case depth == 4 && inField != "" && req.nested == "":
				req.nested = inField
			}
		case xml.EndElement:
			if depth == 3 {
				inField, field = "", nil
			}
			if depth == 2 && inReq {
				inReq = false
				req.raw = append([]byte(nil), d.rec.doc[reqStart-d.base:d.dec.InputOffset()-d.base]...)
			}
			depth--
		case xml.CharData:
			if depth == 3 && field != nil {
				*field += string(t)
			}
		}
	}
	return req, nil
}

// The per-call option elements (package calloptions) and where their text
// goes. A header element is repeated, once per header:
// <InitiatorHeader Name="X-Ticket">T-42</InitiatorHeader>.
var repeatable = map[string]bool{"InitiatorHeader": true, "DestinationHeader": true}

// optionField names the option element t opens and where its text goes; ""
// for an element that is none (it is ignored, like any unknown element).
func (r *request) optionField(t xml.StartElement) (string, *string) {
	o := &r.options
	for _, f := range []struct {
		name string
		dst  *string
	}{
		{"InitiatorCallerId", &o.InitiatorCallerID},
		{"DestinationCallerId", &o.DestinationCallerID},
		{"InitiatorRingTimeout", &o.InitiatorRingTimeout},
		{"DestinationRingTimeout", &o.DestinationRingTimeout},
		{"TimeLimit", &o.TimeLimit},
		{"Metadata", &o.Metadata},
	} {
		if strings.EqualFold(t.Name.Local, f.name) {
			return f.name, f.dst
		}
	}
	for _, f := range []struct {
		name string
		dst  *[]actors.Header
	}{
		{"InitiatorHeader", &o.InitiatorHeaders},
		{"DestinationHeader", &o.DestinationHeaders},
	} {
		if strings.EqualFold(t.Name.Local, f.name) {
			h := actors.Header{}
			for _, a := range t.Attr {
				if strings.EqualFold(a.Name.Local, "Name") {
					h.Name = a.Value
				}
			}
			*f.dst = append(*f.dst, h)
			return f.name, &(*f.dst)[len(*f.dst)-1].Value
		}
	}
	return "", nil
}

// plainDocument reads, when the input buffered already holds it whole, a
// document of the plain shape load generators and most clients send:
//
//	<ClickToCall><Request><Initiator>T</Initiator><Destination>T</Destination><AnchorCall>T</AnchorCall></Request></ClickToCall>
//
// with these names in this case, each field at most once in any order,
// whitespace between the elements, and texts of printable ASCII without
// '<', '>' or '&', after one of plainDeclarations or none. Any other
// document (another prolog, attributes, entities,
// options, other names or case, one over the size limit) yields nil with
// nothing consumed, and goes through the xml.Decoder, which would read
// this shape the same way at ten times the cost. (Such a document is
// scanned twice, up to where it leaves the plain shape: a bounded cost
// that only documents off the common path pay.)
func (d *requestDecoder) plainDocument() *request {
	buf, _ := d.src.Peek(d.src.Buffered())
	if len(buf) > d.rec.limit {
		buf = buf[:d.rec.limit]
	}
	p := plainParser{buf: buf}
	for _, decl := range plainDeclarations {
		if p.tag(decl) {
			p.space()
			break
		}
	}
	if !p.tag("<ClickToCall>") {
		return nil
	}
	p.space()
	reqStart := p.at
	if !p.tag("<Request>") {
		return nil
	}
	req := &request{}
	const anchorField = 2
	fields := [...]struct {
		open, close string
		dst         *string
	}{
		{"<Initiator>", "</Initiator>", &req.initiator},
		{"<Destination>", "</Destination>", &req.destination},
		anchorField: {"<AnchorCall>", "</AnchorCall>", &req.anchor},
	}
	var seen [len(fields)]bool
	for {
		p.space()
		if p.tag("</Request>") {
			break
		}
		i := 0
		for i < len(fields) && !p.tag(fields[i].open) {
			i++
		}
		if i == len(fields) || seen[i] {
			return nil // a field given twice is the decoder's to report
		}
		text, ok := p.text()
		if !ok || !p.tag(fields[i].close) {
			return nil
		}
		seen[i], *fields[i].dst = true, text
	}
	req.hasAnchor = seen[anchorField]
	reqEnd := p.at
	p.space()
	if !p.tag("</ClickToCall>") {
		return nil
	}
	req.raw = append([]byte(nil), buf[reqStart:reqEnd]...)
	_, _ = d.src.Discard(p.at)
	return req
}

// plainDeclarations are the XML declarations a plain document may start
// with, as client libraries write them; the decoder would accept each and
// change nothing for it.
var plainDeclarations = []string{
	`<?xml version="1.0"?>`,
	`<?xml version="1.0" encoding="UTF-8"?>`,
	`<?xml version="1.0" encoding="utf-8"?>`,
}

// plainParser walks a plain document (see plainDocument).
type plainParser struct {
	buf []byte
	at  int
}

// tag consumes s when the input continues with it.
func (p *plainParser) tag(s string) bool {
	if len(p.buf)-p.at < len(s) || string(p.buf[p.at:p.at+len(s)]) != s {
		return false
	}
	p.at += len(s)
	return true
}

func (p *plainParser) space() {
	for p.at < len(p.buf) {
		switch p.buf[p.at] {
		case ' ', '\t', '\r', '\n':
			p.at++
		default:
			return
		}
	}
}

// text consumes a field's text up to the next '<'; it fails on anything
// but printable ASCII other than '>' and '&', and on the end of the input.
func (p *plainParser) text() (string, bool) {
	start := p.at
	for ; p.at < len(p.buf); p.at++ {
		switch c := p.buf[p.at]; {
		case c == '<':
			return string(p.buf[start:p.at]), true
		case c < 0x20 || c > 0x7e || c == '>' || c == '&':
			return "", false
		}
	}
	return "", false
}
