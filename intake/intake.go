// Package intake is the one way into the engine for a click-to-call
// request. Each front end decodes its own input (a form, a JSON body, an
// XML document) into a Raw and passes it to Check, which validates and
// translates it into the engine's CallRequest or names the Problem. So the
// same input gets the same answer, with the same text, whichever front end
// it came through; the front end then only starts the call and encodes the
// answer in its own format.
package intake

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/clicktocall/clicktocall/actors"
	"github.com/clicktocall/clicktocall/config"
	"github.com/clicktocall/clicktocall/intake/calloptions"
)

// MaxValueLen bounds an initiator or destination, in bytes: real addresses
// are far shorter, and the value is echoed, logged and matched against
// regular expressions.
const MaxValueLen = 1024

// Raw is a request as a front end decoded it, before any check. Fields are
// added here, with their check in Check, when a front end learns a new one.
type Raw struct {
	Initiator   string // as the client wrote it; surrounding whitespace is layout
	Destination string
	Anchor      bool
	Origin      string // the front end: "http", "api", "xml"
	ClientIP    string // for per-client limits; may be empty
	Options     calloptions.Raw
}

// Problem is why a request is refused before its call starts: the ending
// (for the status code, the metrics and the XML result) and the text the
// client is shown.
type Problem struct {
	Ending     actors.Ending
	Text       string
	RetryAfter time.Duration // when the client may try again; 0 = not said
}

func (p *Problem) Error() string { return p.Text }

// Refused is the problem a client is shown when StartCall did not start its
// call: the engine's refusal, or a failure to start.
func Refused(err error) *Problem {
	var r *actors.Refusal
	if errors.As(err, &r) {
		return &Problem{Ending: r.Ending, Text: r.Text, RetryAfter: r.RetryAfter}
	}
	return Of(actors.EndStartFailed)
}

// Of is the problem of an ending whose text is fixed (a refusal at a limit,
// a parse error), with its Retry-After.
func Of(e actors.Ending) *Problem {
	return &Problem{Ending: e, Text: e.Text(), RetryAfter: e.RetryAfter()}
}

// Intake checks requests against the translation rules and the per-call
// options' policy.
type Intake struct {
	// Translate turns an address as written into the SIP URI to call; its
	// error text is shown to the client (config.Translate's are).
	Translate func(string) (string, error)
	// Options checks the per-call options; nil: the default api { } policy.
	Options *calloptions.Policy
}

// Check validates raw and translates its addresses. The problem is nil when
// the request may be started.
func (in Intake) Check(raw Raw) (actors.CallRequest, *Problem) {
	initiator, destination := strings.TrimSpace(raw.Initiator), strings.TrimSpace(raw.Destination)
	if initiator == "" || destination == "" {
		return actors.CallRequest{}, &Problem{Ending: actors.EndMissingAddress, Text: "Missing initiator and/or destination tags"}
	}
	for _, f := range []struct{ name, value string }{{"Initiator", initiator}, {"Destination", destination}} {
		if p := valueProblem(f.name, f.value); p != nil {
			return actors.CallRequest{}, p
		}
	}
	policy := in.Options
	if policy == nil {
		policy = calloptions.Default()
	}
	options, bad := policy.Check(raw.Options)
	if bad != nil {
		return actors.CallRequest{}, &Problem{Ending: actors.EndInvalidValue, Text: bad.Error()}
	}
	ti, p := in.translate(initiator)
	if p != nil {
		return actors.CallRequest{}, p
	}
	td, p := in.translate(destination)
	if p != nil {
		return actors.CallRequest{}, p
	}
	return actors.CallRequest{
		Initiator:   ti,
		Destination: td,
		Anchor:      raw.Anchor,
		Origin:      raw.Origin,
		ClientIP:    raw.ClientIP,
		Options:     options,
	}, nil
}

// valueProblem refuses values no address can have before they reach the
// translation rules or the logs.
func valueProblem(name, value string) *Problem {
	switch {
	case len(value) > MaxValueLen:
		return &Problem{Ending: actors.EndInvalidValue, Text: fmt.Sprintf("%s too long (more than %d bytes)", name, MaxValueLen)}
	case !utf8.ValidString(value):
		return &Problem{Ending: actors.EndInvalidValue, Text: name + " is not valid UTF-8"}
	case strings.IndexFunc(value, unicode.IsControl) >= 0:
		return &Problem{Ending: actors.EndInvalidValue, Text: name + " contains control characters"}
	}
	return nil
}

func (in Intake) translate(address string) (string, *Problem) {
	uri, err := in.Translate(address)
	switch {
	case err == nil:
		return uri, nil
	case errors.Is(err, config.ErrInvalidURI):
		return "", &Problem{Ending: actors.EndInvalidURI, Text: err.Error()}
	}
	return "", &Problem{Ending: actors.EndNoTranslationRule, Text: err.Error()}
}
