package xml

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/clicktocall/clicktocall/actors"
)

// maxValueLen bounds an initiator or destination: real addresses are far
// shorter, and the value is echoed, logged and matched against regexps.
const maxValueLen = 1024

// callRequest checks a decoded request and translates its addresses. The
// error is the single 400 result the request gets.
func (r *request) callRequest(translate func(string) (string, error)) (actors.CallRequest, *requestError) {
	bad := func(format string, args ...any) (actors.CallRequest, *requestError) {
		return actors.CallRequest{}, &requestError{400, fmt.Sprintf(format, args...)}
	}
	switch {
	case r.unknown != "":
		return bad("Unknown method")
	case r.duplicate != "":
		return bad("Duplicate %s tag", r.duplicate)
	case r.nested != "":
		return bad("%s must contain text only", r.nested)
	}
	// Surrounding whitespace is layout, not part of an address (the original
	// kept it and produced URIs that no rule matched).
	initiator, destination := strings.TrimSpace(r.initiator), strings.TrimSpace(r.destination)
	if initiator == "" || destination == "" {
		return bad("Missing initiator and/or destination tags")
	}
	for _, f := range []struct{ name, value string }{{"Initiator", initiator}, {"Destination", destination}} {
		if len(f.value) > maxValueLen {
			return bad("%s too long (more than %d bytes)", f.name, maxValueLen)
		}
		if strings.IndexFunc(f.value, unicode.IsControl) >= 0 {
			return bad("%s contains control characters", f.name)
		}
	}
	ti, err := translate(initiator)
	if err != nil {
		return bad("%s", err.Error())
	}
	td, err := translate(destination)
	if err != nil {
		return bad("%s", err.Error())
	}
	return actors.CallRequest{
		Initiator:   ti,
		Destination: td,
		Anchor:      r.hasAnchor && strings.EqualFold(strings.TrimSpace(r.anchor), "true"),
		Origin:      "xml",
	}, nil
}
