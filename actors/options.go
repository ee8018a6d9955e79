package actors

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/clicktocall/clicktocall/config"
)

// CallOptions are a request's own choices for its call: what each phone
// shows, how long each rings, how long an anchored call may last, extra
// headers on each INVITE, and the client's metadata. The zero value keeps
// the server's settings. Front ends build them with package calloptions,
// which checks them against the api { } policy; the engine only refuses
// what it cannot put on the wire.
type CallOptions struct {
	Initiator, Destination LegOptions
	// TimeLimit ends an anchored call (or a REFER call that fell back to
	// anchored) with BYEs this long after it connected; 0 keeps
	// sip.max_call_duration, which it can shorten but not lengthen.
	TimeLimit time.Duration
	// Metadata is a JSON object the server keeps with the call and echoes
	// in the API, the events, the status callbacks and the CDR line.
	Metadata json.RawMessage
}

// LegOptions are the choices for one leg.
type LegOptions struct {
	CallerID    *CallerID     // the From (and P-Asserted-Identity) the phone gets; nil: the default
	RingTimeout time.Duration // CANCEL and 408 after this; 0: sip.ring_timeout
	Headers     []Header      // added to the leg's INVITE as they are
}

// CallerID is a From address: a display name, a SIP URI, or both. With no
// URI the default From's URI is kept under the new name.
type CallerID struct {
	DisplayName string
	URI         string
}

// Header is one extra SIP header.
type Header struct {
	Name, Value string
}

// Leg returns the options of role's leg.
func (o *CallOptions) Leg(role Leg) *LegOptions {
	if role == LegInitiator {
		return &o.Initiator
	}
	return &o.Destination
}

// WireProblem says what in o cannot go on the wire as it is ("" when
// nothing): a caller ID that is no URI or whose name would break out of
// its quotes, a header name that is no token, a header value with a line
// break, metadata that is no JSON. StartCall refuses such options with 400;
// the front ends' policy (package calloptions) refuses them, and more,
// before.
func (o *CallOptions) WireProblem() string {
	for _, role := range []Leg{LegInitiator, LegDestination} {
		leg := o.Leg(role)
		if id := leg.CallerID; id != nil {
			if strings.ContainsAny(id.DisplayName, "\"\\\r\n") {
				return fmt.Sprintf("%s caller ID: the display name %q cannot be quoted", role, id.DisplayName)
			}
			var u sip.Uri
			if id.URI != "" && sip.ParseUri(id.URI, &u) != nil {
				return fmt.Sprintf("%s caller ID: %q is not a SIP URI", role, id.URI)
			}
		}
		for _, h := range leg.Headers {
			if !config.IsHeaderName(h.Name) || strings.ContainsAny(h.Value, "\r\n\x00") {
				return fmt.Sprintf("%s header %q cannot be sent", role, h.Name)
			}
		}
	}
	if o.Metadata != nil && !json.Valid(o.Metadata) {
		return "metadata is not JSON"
	}
	return ""
}

// fromFor is the From of role's INVITE: def, or the leg's caller ID over it.
func (o *CallOptions) fromFor(role Leg, def sip.FromHeader) sip.FromHeader {
	if id := o.Leg(role).CallerID; id != nil {
		def.DisplayName = id.DisplayName
		if id.URI != "" {
			// A fresh Uri: parsing into def's would keep its port and
			// parameters where the caller ID has none. Checked by StartCall.
			var u sip.Uri
			_ = sip.ParseUri(id.URI, &u)
			def.Address = u
		}
	}
	def.Params = sip.NewParams()
	def.Params.Add("tag", sip.GenerateTagN(16))
	return def
}

// assertedIdentity is the P-Asserted-Identity (RFC 3325) naming the same
// party as from.
func assertedIdentity(from sip.FromHeader) sip.Header {
	from.Params = nil
	return sip.NewHeader("P-Asserted-Identity", from.Value())
}

// headersFor lists the leg's extra headers, in the order given.
func (o *CallOptions) headersFor(role Leg) []sip.Header {
	var out []sip.Header
	for _, h := range o.Leg(role).Headers {
		out = append(out, sip.NewHeader(h.Name, h.Value))
	}
	return out
}

// ringTimeout is role's ring timeout: the leg's own, else def.
func (o *CallOptions) ringTimeout(role Leg, def time.Duration) time.Duration {
	if d := o.Leg(role).RingTimeout; d > 0 {
		return d
	}
	return def
}

// timeLimit is how long a connected anchored call may last: the shorter of
// the request's own limit and the server's, def (0: none). A client may
// shorten the server's limit, never lengthen it.
func (o *CallOptions) timeLimit(def time.Duration) time.Duration {
	if o.TimeLimit > 0 && (def == 0 || o.TimeLimit < def) {
		return o.TimeLimit
	}
	return def
}
