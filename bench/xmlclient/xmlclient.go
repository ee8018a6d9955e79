// Package xmlclient is the client side of the click-to-call XML-over-TCP
// interface as the bench uses it: it renders requests, splits the response
// stream into documents and reads each one's echoed initiator and result,
// without a full XML parser (the bench reads tens of thousands of documents
// a second). It accepts what the seed's servers write: any case in element
// names, whitespace and attributes in any order, entities in text.
package xmlclient

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/clicktocall/clicktocall/transport/rfc3261"
)

// Request is one click-to-call request.
type Request struct {
	Initiator   string
	Destination string
	Anchor      bool
}

// AppendRequest renders r as one request document (with a trailing newline).
func AppendRequest(dst []byte, r Request) []byte {
	dst = append(dst, "<ClickToCall><Request><Initiator>"...)
	dst = appendEscaped(dst, r.Initiator)
	dst = append(dst, "</Initiator><Destination>"...)
	dst = appendEscaped(dst, r.Destination)
	dst = append(dst, "</Destination><AnchorCall>"...)
	dst = strconv.AppendBool(dst, r.Anchor)
	dst = append(dst, "</AnchorCall></Request></ClickToCall>\n"...)
	return dst
}

func appendEscaped(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '<':
			dst = append(dst, "&lt;"...)
		case '>':
			dst = append(dst, "&gt;"...)
		case '&':
			dst = append(dst, "&amp;"...)
		case '"':
			dst = append(dst, "&quot;"...)
		case '\'':
			dst = append(dst, "&apos;"...)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// Response is what the bench needs of one response document.
type Response struct {
	Initiator string // echoed <Initiator> of the request ("" when none was echoed)
	Code      int    // Result Code
	Leg       string // Result Leg: "Initiator", "Destination" or ""
	Text      string // the result text, entities decoded
	// RetryAfter is the RetryAfter attribute of a refusal, whole seconds
	// (0: none).
	RetryAfter int
	// TranslatedInitiator and TranslatedDestination come with the 100.
	TranslatedInitiator, TranslatedDestination string
}

// Final reports whether r ends its request's stream: Code >= 300, or a 2xx
// about the destination.
func (r Response) Final() bool {
	return rfc3261.Failure(r.Code) || (rfc3261.Success(r.Code) && strings.EqualFold(r.Leg, "Destination"))
}

// ErrTooLarge is returned by Scanner.Next for a document over its limit.
var ErrTooLarge = errors.New("xmlclient: response document too large")

// Scanner splits a response stream into documents.
type Scanner struct {
	r     *bufio.Reader
	limit int
	buf   []byte
}

// NewScanner reads documents from r; a document longer than limit bytes is
// an error.
func NewScanner(r io.Reader, limit int) *Scanner {
	return &Scanner{r: bufio.NewReaderSize(r, 64<<10), limit: limit}
}

// Next returns the next whole document (from its first '<' to the end of
// "</ClickToCall>"). The slice is valid until the next call. At the end of
// the stream it returns io.EOF, or io.ErrUnexpectedEOF inside a document.
func (s *Scanner) Next() ([]byte, error) {
	s.buf = s.buf[:0]
	for {
		chunk, err := s.r.ReadSlice('>')
		if len(s.buf) == 0 {
			// Skip what lies between documents (newlines).
			if i := bytes.IndexByte(chunk, '<'); i >= 0 {
				chunk = chunk[i:]
			} else {
				chunk = nil
			}
		}
		s.buf = append(s.buf, chunk...)
		if len(s.buf) > s.limit {
			return nil, ErrTooLarge
		}
		if err == nil && endsDocument(s.buf) {
			return s.buf, nil
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			if errors.Is(err, io.EOF) && len(s.buf) > 0 {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
}

// endsDocument reports whether b ends with "</ClickToCall>" (any case,
// optional whitespace before '>').
func endsDocument(b []byte) bool {
	const tag = "clicktocall"
	// The last '<' (a byte search, cheaper than looking for "</" in a
	// document that grows with every '>' read) must open the end tag.
	i := bytes.LastIndexByte(b, '<')
	if i < 0 || i+1 >= len(b) || b[i+1] != '/' {
		return false
	}
	name := bytes.TrimRight(b[i+2:len(b)-1], " \t\r\n")
	return len(name) == len(tag) && bytes.EqualFold(name, []byte(tag))
}

// Parse reads a response document.
func Parse(doc []byte) (Response, error) {
	var r Response
	res, ok := element(doc, "Result")
	if !ok {
		return r, fmt.Errorf("xmlclient: no <Result> in %q", clip(doc))
	}
	code, _ := attr(res.attrs, "Code")
	n, err := strconv.Atoi(strings.TrimSpace(code))
	if err != nil {
		return r, fmt.Errorf("xmlclient: bad Result Code %q in %q", code, clip(doc))
	}
	r.Code = n
	r.Leg, _ = attr(res.attrs, "Leg")
	if ra, ok := attr(res.attrs, "RetryAfter"); ok {
		r.RetryAfter, _ = strconv.Atoi(strings.TrimSpace(ra))
	}
	r.Text = unescape(res.text)
	if e, ok := element(doc, "Initiator"); ok {
		r.Initiator = strings.TrimSpace(unescape(e.text))
	}
	if e, ok := element(doc, "TranslatedInitiator"); ok {
		r.TranslatedInitiator = strings.TrimSpace(unescape(e.text))
	}
	if e, ok := element(doc, "TranslatedDestination"); ok {
		r.TranslatedDestination = strings.TrimSpace(unescape(e.text))
	}
	return r, nil
}

func clip(b []byte) []byte {
	if len(b) > 200 {
		return b[:200]
	}
	return b
}

type elem struct {
	attrs []byte // between the name and '>'
	text  []byte // between the start and end tags
}

// element finds the first element called name (any case) and returns its
// attributes and text; a self-closing element has no text.
func element(doc []byte, name string) (elem, bool) {
	for i := 0; ; {
		j := bytes.IndexByte(doc[i:], '<')
		if j < 0 {
			return elem{}, false
		}
		i += j + 1
		if len(doc)-i < len(name) || !bytes.EqualFold(doc[i:i+len(name)], []byte(name)) {
			continue
		}
		after := doc[i+len(name):]
		if len(after) == 0 || !(after[0] == '>' || after[0] == '/' || isSpace(after[0])) {
			continue // a longer name, such as <InitiatorX>
		}
		gt := bytes.IndexByte(after, '>')
		if gt < 0 {
			return elem{}, false
		}
		e := elem{attrs: after[:gt]}
		if gt > 0 && after[gt-1] == '/' {
			e.attrs = after[:gt-1]
			return e, true
		}
		body := after[gt+1:]
		end := indexEndTag(body, name)
		if end < 0 {
			return elem{}, false
		}
		e.text = body[:end]
		return e, true
	}
}

func indexEndTag(b []byte, name string) int {
	for i := 0; ; {
		j := bytes.Index(b[i:], []byte("</"))
		if j < 0 {
			return -1
		}
		k := i + j + 2
		if len(b)-k >= len(name) && bytes.EqualFold(b[k:k+len(name)], []byte(name)) {
			rest := bytes.TrimLeft(b[k+len(name):], " \t\r\n")
			if len(rest) > 0 && rest[0] == '>' {
				return i + j
			}
		}
		i = k
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// attr returns the value of attribute name (any case) in the text between
// an element's name and its '>'.
func attr(attrs []byte, name string) (string, bool) {
	s := attrs
	for len(s) > 0 {
		s = bytes.TrimLeft(s, " \t\r\n")
		eq := bytes.IndexByte(s, '=')
		if eq < 0 {
			return "", false
		}
		key := bytes.TrimSpace(s[:eq])
		s = bytes.TrimLeft(s[eq+1:], " \t\r\n")
		if len(s) == 0 || (s[0] != '"' && s[0] != '\'') {
			return "", false
		}
		q := s[0]
		end := bytes.IndexByte(s[1:], q)
		if end < 0 {
			return "", false
		}
		val := s[1 : 1+end]
		s = s[end+2:]
		if bytes.EqualFold(key, []byte(name)) {
			return unescape(val), true
		}
	}
	return "", false
}

var entities = strings.NewReplacer("&lt;", "<", "&gt;", ">", "&quot;", `"`, "&apos;", "'", "&amp;", "&")

func unescape(b []byte) string {
	if bytes.IndexByte(b, '&') < 0 {
		return string(b)
	}
	s := string(b)
	if strings.Contains(s, "&#") {
		s = unescapeNumeric(s)
	}
	return entities.Replace(s)
}

// unescapeNumeric decodes &#N; and &#xH; references.
func unescapeNumeric(s string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "&#")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		s = s[i:]
		semi := strings.IndexByte(s, ';')
		if semi < 0 {
			b.WriteString(s)
			return b.String()
		}
		ref := s[2:semi]
		base := 10
		if len(ref) > 0 && (ref[0] == 'x' || ref[0] == 'X') {
			ref, base = ref[1:], 16
		}
		if n, err := strconv.ParseUint(ref, base, 32); err == nil {
			b.WriteRune(rune(n))
		} else {
			b.WriteString(s[:semi+1])
		}
		s = s[semi+1:]
	}
}
