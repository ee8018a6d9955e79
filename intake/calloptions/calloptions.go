// Package calloptions reads and checks the optional per-call fields every
// front end accepts (the JSON API's fields, the XML request's elements, the
// page's form fields): a caller ID, a ring timeout and extra SIP headers for
// each leg, a time limit, and metadata. The front ends only decode them
// into a Raw; Check applies the server's policy (the api { } settings) and
// gives the engine its actors.CallOptions, or a Problem naming the field, so
// the same input gets the same answer on every interface and a refused
// value never reaches the wire.
package calloptions

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/clicktocall/clicktocall/actors"
	"github.com/clicktocall/clicktocall/config"
)

// Bounds that are not worth a setting: far above what real calls use, low
// enough that a request cannot bloat an INVITE past a UDP datagram.
const (
	MaxHeaders        = 8    // extra headers per leg
	MaxHeaderName     = 64   // bytes
	MaxHeaderValue    = 256  // bytes
	MaxDisplayName    = 64   // bytes
	MaxCallerURI      = 256  // bytes
	MaxMetadata       = 1024 // bytes of compact JSON
	maxSecondsLiteral = 10   // digits: more is not a duration anyone means
)

// The field names, as the JSON API and the page's form spell them; the XML
// elements are the same words in CamelCase (InitiatorCallerId, ...).
const (
	FieldInitiatorCallerID      = "initiator_caller_id"
	FieldDestinationCallerID    = "destination_caller_id"
	FieldInitiatorRingTimeout   = "initiator_ring_timeout"
	FieldDestinationRingTimeout = "destination_ring_timeout"
	FieldTimeLimit              = "time_limit"
	FieldInitiatorHeaders       = "initiator_headers"
	FieldDestinationHeaders     = "destination_headers"
	FieldMetadata               = "metadata"
)

// Raw is the options as a front end decoded them, unchecked. Empty fields
// are absent.
type Raw struct {
	InitiatorCallerID, DestinationCallerID       string // "Name <sip:uri>", "sip:uri" or "Name"
	InitiatorRingTimeout, DestinationRingTimeout string // whole seconds
	TimeLimit                                    string // whole seconds
	InitiatorHeaders, DestinationHeaders         []actors.Header
	Metadata                                     string // a JSON object
}

// Empty reports whether no option was given.
func (r Raw) Empty() bool {
	return r.InitiatorCallerID == "" && r.DestinationCallerID == "" && r.InitiatorRingTimeout == "" &&
		r.DestinationRingTimeout == "" && r.TimeLimit == "" && len(r.InitiatorHeaders) == 0 &&
		len(r.DestinationHeaders) == 0 && r.Metadata == ""
}

// HeaderLine splits a "Name: value" line, the form the page's form and
// query string take headers in. A line without a colon gives a header
// without a name, which Check refuses.
func HeaderLine(line string) actors.Header {
	name, value, ok := strings.Cut(line, ":")
	if !ok {
		return actors.Header{Value: line}
	}
	return actors.Header{Name: strings.TrimSpace(name), Value: strings.TrimSpace(value)}
}

// Problem is a refused option: the field and what is wrong with it. Its
// text is the 400 answer on every interface.
type Problem struct {
	Field string
	Text  string
}

func (p *Problem) Error() string { return p.Field + ": " + p.Text }

func problem(field, format string, args ...any) *Problem {
	return &Problem{Field: field, Text: fmt.Sprintf(format, args...)}
}

// Policy is what the server allows: api.caller_ids, api.allowed_headers,
// api.max_ring_timeout and api.max_time_limit.
type Policy struct {
	callerIDs      []*regexp.Regexp
	allowedHeaders []string
	maxRingTimeout time.Duration
	maxTimeLimit   time.Duration
}

// NewPolicy compiles the api { } settings; config.Load has checked them, so
// an error means settings built by hand.
func NewPolicy(a config.API) (*Policy, error) {
	p := &Policy{allowedHeaders: a.AllowedHeaders, maxRingTimeout: a.MaxRingTimeout, maxTimeLimit: a.MaxTimeLimit}
	for _, s := range a.CallerIDs {
		re, err := config.CallerIDPattern(s)
		if err != nil {
			return nil, fmt.Errorf("api.caller_ids %q: %w", s, err)
		}
		p.callerIDs = append(p.callerIDs, re)
	}
	return p, nil
}

// Default is the policy of the default api { } settings: no caller IDs,
// X- headers only, the default maxima.
var Default = sync.OnceValue(func() *Policy {
	p, err := NewPolicy(config.Default().API)
	if err != nil {
		panic("calloptions: the default settings: " + err.Error())
	}
	return p
})

// Check turns r into the engine's options, or says what is wrong with the
// first field that is, in the order of the fields of Raw.
func (p *Policy) Check(r Raw) (actors.CallOptions, *Problem) {
	var o actors.CallOptions
	var pr *Problem
	for _, step := range []func(){
		func() { o.Initiator.CallerID, pr = p.callerID(FieldInitiatorCallerID, r.InitiatorCallerID) },
		func() { o.Destination.CallerID, pr = p.callerID(FieldDestinationCallerID, r.DestinationCallerID) },
		func() {
			o.Initiator.RingTimeout, pr = seconds(FieldInitiatorRingTimeout, r.InitiatorRingTimeout, p.maxRingTimeout, "api.max_ring_timeout")
		},
		func() {
			o.Destination.RingTimeout, pr = seconds(FieldDestinationRingTimeout, r.DestinationRingTimeout, p.maxRingTimeout, "api.max_ring_timeout")
		},
		func() { o.TimeLimit, pr = seconds(FieldTimeLimit, r.TimeLimit, p.maxTimeLimit, "api.max_time_limit") },
		func() { o.Initiator.Headers, pr = p.headers(FieldInitiatorHeaders, r.InitiatorHeaders) },
		func() { o.Destination.Headers, pr = p.headers(FieldDestinationHeaders, r.DestinationHeaders) },
		func() { o.Metadata, pr = metadata(r.Metadata) },
	} {
		if step(); pr != nil {
			return actors.CallOptions{}, pr
		}
	}
	return o, nil
}

// callerID reads "Name <sip:uri>", "sip:uri" or "Name" (quotes around the
// name are taken off). The URI must match one of api.caller_ids; with none
// configured no caller ID is taken at all.
func (p *Policy) callerID(field, s string) (*actors.CallerID, *Problem) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	if len(p.callerIDs) == 0 {
		return nil, problem(field, "caller IDs are not enabled on this server (api.caller_ids is empty)")
	}
	var id actors.CallerID
	switch lt := strings.IndexByte(s, '<'); {
	case lt >= 0:
		if !strings.HasSuffix(s, ">") {
			return nil, problem(field, "%q is not \"Name <sip:uri>\": nothing may follow the '>'", s)
		}
		id.DisplayName, id.URI = strings.TrimSpace(s[:lt]), strings.TrimSpace(s[lt+1:len(s)-1])
		if id.URI == "" {
			return nil, problem(field, "%q has no URI between '<' and '>'", s)
		}
	case hasSIPScheme(s):
		id.URI = s
	default:
		id.DisplayName = s
	}
	if name, ok := strings.CutPrefix(id.DisplayName, `"`); ok {
		id.DisplayName, ok = strings.CutSuffix(name, `"`)
		if !ok {
			return nil, problem(field, "the display name has an opening quote and no closing one")
		}
	}
	if pr := displayNameProblem(field, id.DisplayName); pr != nil {
		return nil, pr
	}
	if id.URI == "" {
		return &id, nil
	}
	if len(id.URI) > MaxCallerURI {
		return nil, problem(field, "the URI is %d bytes, at most %d", len(id.URI), MaxCallerURI)
	}
	if err := config.ValidateSIPURI(id.URI); err != nil {
		return nil, problem(field, "%q is not a SIP URI: %v", id.URI, err)
	}
	for _, re := range p.callerIDs {
		if re.MatchString(id.URI) {
			return &id, nil
		}
	}
	return nil, problem(field, "%s is not allowed by api.caller_ids", id.URI)
}

func hasSIPScheme(s string) bool {
	l := strings.ToLower(s)
	return strings.HasPrefix(l, "sip:") || strings.HasPrefix(l, "sips:")
}

// displayNameProblem keeps a display name to what goes between quotes in
// a From as it is: printable text, no quote or backslash.
func displayNameProblem(field, name string) *Problem {
	switch {
	case len(name) > MaxDisplayName:
		return problem(field, "the display name is %d bytes, at most %d", len(name), MaxDisplayName)
	case !utf8.ValidString(name):
		return problem(field, "the display name is not valid UTF-8")
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return problem(field, "the display name contains a control character")
	case strings.ContainsAny(name, `"\<>`):
		return problem(field, `the display name contains '"', '\', '<' or '>'`)
	}
	return nil
}

// seconds reads a whole number of seconds from 1 to limit.
func seconds(field, s string, limit time.Duration, setting string) (time.Duration, *Problem) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || len(s) > maxSecondsLiteral {
		return 0, problem(field, "%q is not a whole number of seconds", truncate(s))
	}
	if n < 1 {
		return 0, problem(field, "%d seconds: it must be at least 1", n)
	}
	if d := time.Duration(n) * time.Second; d <= limit {
		return d, nil
	}
	return 0, problem(field, "%d seconds is above this server's maximum of %d (%s)", n, int64(limit/time.Second), setting)
}

// headers checks a leg's extra headers: X- names or api.allowed_headers,
// never one the server writes, values without CR, LF or other control
// characters, each bounded, and at most MaxHeaders of them.
func (p *Policy) headers(field string, hs []actors.Header) ([]actors.Header, *Problem) {
	if len(hs) == 0 {
		return nil, nil
	}
	if len(hs) > MaxHeaders {
		return nil, problem(field, "%d headers, at most %d", len(hs), MaxHeaders)
	}
	out := make([]actors.Header, 0, len(hs))
	for _, h := range hs {
		name, value := strings.TrimSpace(h.Name), strings.TrimSpace(h.Value)
		switch {
		case name == "":
			return nil, problem(field, "a header has no name")
		case len(name) > MaxHeaderName:
			return nil, problem(field, "the header name %q is %d bytes, at most %d", truncate(name), len(name), MaxHeaderName)
		case !config.IsHeaderName(name):
			return nil, problem(field, "%q is not a SIP header name", truncate(name))
		case !p.headerAllowed(name):
			return nil, problem(field, "%s may not be added: only X- headers and api.allowed_headers", name)
		case strings.ContainsAny(value, "\r\n"):
			return nil, problem(field, "the value of %s contains CR or LF", name)
		case !utf8.ValidString(value) || strings.IndexFunc(value, isControlButTab) >= 0:
			return nil, problem(field, "the value of %s contains a control character or is not UTF-8", name)
		case len(value) > MaxHeaderValue:
			return nil, problem(field, "the value of %s is %d bytes, at most %d", name, len(value), MaxHeaderValue)
		case value == "":
			return nil, problem(field, "%s has no value", name)
		}
		out = append(out, actors.Header{Name: name, Value: value})
	}
	return out, nil
}

func (p *Policy) headerAllowed(name string) bool {
	if config.ReservedHeader(name) {
		return false
	}
	if len(name) > 2 && strings.EqualFold(name[:2], "X-") {
		return true
	}
	return slices.ContainsFunc(p.allowedHeaders, func(a string) bool { return strings.EqualFold(a, name) })
}

func isControlButTab(r rune) bool { return r != '\t' && unicode.IsControl(r) }

// metadata checks a JSON object of at most MaxMetadata bytes, compacted.
func metadata(s string) (json.RawMessage, *Problem) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	if len(s) > 4*MaxMetadata {
		// Not worth compacting to find out.
		return nil, problem(FieldMetadata, "%d bytes, at most %d", len(s), MaxMetadata)
	}
	if s[0] != '{' || !json.Valid([]byte(s)) {
		return nil, problem(FieldMetadata, "not a JSON object")
	}
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		return nil, problem(FieldMetadata, "not a JSON object")
	}
	if b.Len() > MaxMetadata {
		return nil, problem(FieldMetadata, "%d bytes, at most %d", b.Len(), MaxMetadata)
	}
	return json.RawMessage(b.Bytes()), nil
}

// truncate keeps a refused value short enough to quote in the answer.
func truncate(s string) string {
	const most = 40
	if len(s) <= most {
		return s
	}
	cut := most
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
