package cdr

import (
	"encoding/json"
	"time"

	"github.com/clicktocall/clicktocall/actors"
)

// Record is one line of the CDR file: a finished call. Times are RFC 3339
// with nanoseconds, in UTC.
type Record struct {
	CallID         string    `json:"call_id"`
	RequestID      string    `json:"request_id,omitempty"`
	Origin         string    `json:"origin"` // "http", "xml" or "api"
	ClientIP       string    `json:"client_ip,omitempty"`
	Initiator      string    `json:"initiator"`   // translated SIP URI
	Destination    string    `json:"destination"` // translated SIP URI
	Anchor         bool      `json:"anchor"`      // as requested
	Mode           string    `json:"mode"`        // "refer", "anchored" or "fallback"
	StartedAt      time.Time `json:"started_at"`  // the 100
	InitiatorLeg   LegRecord `json:"initiator_leg"`
	DestinationLeg LegRecord `json:"destination_leg"`
	FinalCode      int       `json:"final_code"`
	FinalLeg       string    `json:"final_leg,omitempty"`
	FinalText      string    `json:"final_text"`
	FinalAt        time.Time `json:"final_at"`
	DurationMS     int64     `json:"duration_ms"` // started_at to final_at
	// Metadata is the JSON object the request gave, as it gave it.
	Metadata json.RawMessage `json:"metadata,omitempty"`
}

// LegRecord is what happened to one leg. Code is the leg's last result code,
// 0 when the call never reached the leg.
type LegRecord struct {
	Code       int        `json:"code"`
	RingingAt  *time.Time `json:"ringing_at,omitempty"`
	AnsweredAt *time.Time `json:"answered_at,omitempty"`
	FailedAt   *time.Time `json:"failed_at,omitempty"`
}

// RecordOf builds the record of a call that has its final result.
func RecordOf(c Call) Record {
	r := Record{
		CallID:      c.ID,
		RequestID:   c.RequestID,
		Origin:      c.Request.Origin,
		ClientIP:    c.Request.ClientIP,
		Initiator:   c.Request.Initiator,
		Destination: c.Request.Destination,
		Anchor:      c.Request.Anchor,
		Mode:        string(c.Mode),
		StartedAt:   c.StartedAt().UTC(),
		Metadata:    c.Request.Options.Metadata,
	}
	for _, res := range c.Results {
		var leg *LegRecord
		switch res.Leg {
		case actors.LegInitiator.String():
			leg = &r.InitiatorLeg
		case actors.LegDestination.String():
			leg = &r.DestinationLeg
		default:
			continue
		}
		at := res.At.UTC()
		leg.Code = res.Code
		switch p := res.progress(); {
		case p.Provisional():
			leg.RingingAt = &at
		case p.Answered():
			leg.AnsweredAt = &at
		default:
			leg.FailedAt = &at
		}
	}
	if f, ok := c.Final(); ok {
		r.FinalCode, r.FinalLeg, r.FinalText, r.FinalAt = f.Code, f.Leg, f.Text, f.At.UTC()
		r.DurationMS = f.At.Sub(r.StartedAt).Milliseconds()
	}
	return r
}

// recordLine is the CDR line of a finished call, newline included.
func recordLine(c Call) []byte {
	b, err := json.Marshal(RecordOf(c))
	if err != nil {
		// Strings, ints and times always marshal.
		panic("cdr: marshal record: " + err.Error())
	}
	return append(b, '\n')
}
