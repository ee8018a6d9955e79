package phone

import (
	"time"
)

// Behaviour says how the phone answers a call. The zero value answers at once with 200 OK,
// accepts REFER and NOTIFYs 100 Trying then 200 OK, and never hangs up by itself.
type Behaviour struct {
	// Ring sends 180 Ringing first.
	Ring bool
	// EarlyMedia sends 183 Session Progress with an SDP answer when the INVITE has an offer.
	EarlyMedia bool
	// RingDelay is the time between receiving the INVITE and the final response.
	RingDelay time.Duration
	// RejectCode, when non-zero, answers the INVITE with this final status (486, 603, ...).
	RejectCode int
	// NoAnswer never sends a final response; a CANCEL gets 200 and the INVITE 487.
	NoAnswer bool
	// Auth, when set, challenges each new INVITE with 401 and accepts only a retry whose
	// Authorization is valid for these credentials.
	Auth *Credentials
	// TalkTime, when non-zero, makes the phone send BYE this long after the call is confirmed.
	TalkTime time.Duration
	// ReinviteRejectCode, when non-zero, answers every re-INVITE with this status.
	ReinviteRejectCode int
	// Refer says how the phone handles REFER in a confirmed call.
	Refer ReferBehaviour
}

// Credentials are what a digest-challenging phone accepts.
type Credentials struct {
	Username string
	Password string
	Realm    string // default "phone"
	// QOP offers qop="auth" in the challenge (RFC 2617/7616 style) instead of RFC 2069 digest.
	QOP bool
}

// ReferMode says what the phone does with a REFER.
type ReferMode int

const (
	// ReferAccept answers 202 and NOTIFYs the progress (sipfrag).
	ReferAccept ReferMode = iota
	// ReferAcceptSilent answers 202 and never NOTIFYs.
	ReferAcceptSilent
	// ReferReject answers with ReferBehaviour.RejectCode.
	ReferReject
	// ReferIgnore never answers the REFER.
	ReferIgnore
)

// ReferBehaviour configures REFER handling.
type ReferBehaviour struct {
	Mode ReferMode
	// RejectCode is the status for ReferReject (405, 501, 603, ...); default 603.
	RejectCode int
	// EventID adds ";id=<REFER CSeq>" to the NOTIFYs' Event header.
	EventID bool
	// Ringing sends a "SIP/2.0 180 Ringing" NOTIFY between 100 Trying and the final one.
	Ringing bool
	// FinalCode is the status in the final sipfrag; default 200.
	FinalCode int
	// NotifyDelay is waited before each NOTIFY.
	NotifyDelay time.Duration
	// FinalNotifyDelay is waited, in addition, before the final NOTIFY: e.g. to let the
	// server's REFER timeout fire so the final NOTIFY arrives after its BYE.
	FinalNotifyDelay time.Duration
	// Dial makes the phone really call the Refer-To target (with an SDP offer): the NOTIFYs
	// then carry the target's real responses, and FinalCode and Ringing are ignored.
	Dial bool
}

func (r ReferBehaviour) rejectCode() int {
	if r.RejectCode == 0 {
		return 603
	}
	return r.RejectCode
}

func (r ReferBehaviour) finalCode() int {
	if r.FinalCode == 0 {
		return 200
	}
	return r.FinalCode
}
