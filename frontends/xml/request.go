package xml

import (
	"strings"

	"github.com/clicktocall/clicktocall/actors"
	"github.com/clicktocall/clicktocall/intake"
	"github.com/clicktocall/clicktocall/intake/calloptions"
)

// callRequest checks a decoded request's XML shape, then passes its fields
// to the intake, which validates and translates them. The error is the
// single 400 result the request gets.
func (r *request) callRequest(translate func(string) (string, error), options *calloptions.Policy) (actors.CallRequest, *requestError) {
	switch {
	case r.unknown != "":
		return actors.CallRequest{}, errorOf(actors.EndParseError, "Unknown method")
	case r.duplicate != "":
		return actors.CallRequest{}, errorOf(actors.EndParseError, "Duplicate "+r.duplicate+" tag")
	case r.nested != "":
		return actors.CallRequest{}, errorOf(actors.EndParseError, r.nested+" must contain text only")
	}
	call, p := intake.Intake{Translate: translate, Options: options}.Check(intake.Raw{
		Initiator:   r.initiator,
		Destination: r.destination,
		Anchor:      r.hasAnchor && strings.EqualFold(strings.TrimSpace(r.anchor), "true"),
		Origin:      "xml",
		Options:     r.options,
	})
	if p != nil {
		return call, errorOf(p.Ending, p.Text)
	}
	return call, nil
}
