package xml

import (
	"bytes"
	"encoding/xml"
	"strconv"
	"time"

	"github.com/clicktocall/clicktocall/actors"
	"github.com/clicktocall/clicktocall/intake"
)

// result is one <Response> of a request's stream.
type result struct {
	code int
	leg  actors.Leg
	text string
	// translated URIs, only on the 100 "In progress" of an accepted call
	initiator, destination string
	// retryAfter, on a refusal at a limit or under overload, tells the
	// client when to try again (a RetryAfter attribute, whole seconds).
	retryAfter time.Duration
}

// problemResult is the final result of a request refused before its call
// started.
func problemResult(p *intake.Problem) result {
	return result{code: p.Ending.XMLCode(), text: p.Text, retryAfter: p.RetryAfter}
}

// appendResponse renders one response document: the request element as it
// was received (or an empty <Request></Request> when there is none to echo),
// then the result. Every piece of text is escaped; raw was checked to be
// well-formed by the decoder, so the document is well-formed too.
func appendResponse(dst []byte, raw []byte, r result) []byte {
	b := bytes.NewBuffer(dst)
	b.WriteString("<ClickToCall>\n")
	if raw == nil {
		b.WriteString("<Request></Request>")
	} else {
		b.Write(raw)
	}
	b.WriteString("\n<Response>\n")
	if r.initiator != "" || r.destination != "" {
		b.WriteString("<TranslatedInitiator>")
		escape(b, r.initiator)
		b.WriteString("</TranslatedInitiator>\n<TranslatedDestination>")
		escape(b, r.destination)
		b.WriteString("</TranslatedDestination>\n")
	}
	b.WriteString(`<Result Code="`)
	b.WriteString(strconv.Itoa(r.code))
	if leg := r.leg.String(); leg != "" {
		b.WriteString(`" Leg="`)
		escape(b, leg)
	}
	if r.retryAfter > 0 {
		b.WriteString(`" RetryAfter="`)
		b.WriteString(strconv.Itoa(retryAfterSeconds(r.retryAfter)))
	}
	b.WriteString(`">`)
	escape(b, r.text)
	b.WriteString("</Result>\n</Response>\n</ClickToCall>\n")
	return b.Bytes()
}

// retryAfterSeconds rounds up to whole seconds, at least one, as HTTP's
// Retry-After does.
func retryAfterSeconds(d time.Duration) int {
	return max(1, int((d+time.Second-1)/time.Second))
}

// escape writes s as XML character data; characters XML cannot carry become U+FFFD.
func escape(b *bytes.Buffer, s string) {
	_ = xml.EscapeText(b, []byte(s))
}
