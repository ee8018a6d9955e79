package actors

import (
	"fmt"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/clicktocall/clicktocall/transport/rfc3261"
)

// Ending is one way a call or a request ends. Every place that ends a call
// or refuses a request names one, and everything shown for it (the result
// code and text, the BYE's Reason, the call record's state, the metrics
// label, the HTTP status, the XML result) is read from the table below
// rather than worked out again from a status code or a text.
//
// To add an ending: add a constant here and its row to endings; the tests
// check that every constant has a complete row.
type Ending uint8

// The endings of an accepted call: its final result.
const (
	EndNone           Ending = iota // not ended (a Progress that is not final)
	EndAnswered                     // the destination is connected (REFER: transferred)
	EndBusy                         // a phone or the transfer answered 486 Busy Here or 600 Busy Everywhere
	EndDeclined                     // a phone or the transfer answered 603 Decline
	EndNoAnswer                     // a phone or the transfer answered 480 Temporarily Unavailable
	EndRejected                     // a phone or the transfer answered another failure, carried as is
	EndCancelled                    // the initiator hung up first, or the client cancelled: 487
	EndReferFailed                  // the transfer's final NOTIFY reported another failure, carried as is
	EndTimeout                      // no answer in time: ring timeout, Timer B, the REFER's final NOTIFY, a phone's 408
	EndTransportError               // the INVITE could not be sent (no route, connection refused)
	EndNotAcceptable                // an answer without a usable SDP: 488
	EndInternal                     // a call's actor crashed
	EndShutDown                     // the server is shutting down
	EndNodeLost                     // the cluster node running the call was lost
)

// The endings of a request refused before its call starts.
const (
	EndMissingAddress     Ending = iota + 64 // initiator or destination missing or blank
	EndInvalidValue                          // an address too long, not UTF-8, or with control characters
	EndNoTranslationRule                     // no translation rule matches an address
	EndInvalidURI                            // a translated address is not a valid SIP URI
	EndParseError                            // the request cannot be read
	EndNotJSON                               // the JSON API's request is not application/json
	EndTooLarge                              // the request is over the size limit
	EndRequestTimeout                        // the request did not arrive whole in time
	EndTooManyConnections                    // a front end's connection limit
	EndBadCallback                           // the JSON API's status_callback is not acceptable
	EndCallbacksBusy                         // too many status callbacks pending
	EndRequestIDConflict                     // a JSON API request_id reused for another request
	EndMaxActiveCalls                        // limits.max_active_calls
	EndMaxPerInitiator                       // limits.max_calls_per_initiator
	EndMaxCallsPerSecond                     // limits.max_calls_per_second
	EndMaxPerSecondPerIP                     // limits.max_calls_per_second_per_ip
	EndOverload                              // overload protection shed the request
	EndRefusedShutDown                       // the server is shutting down
	EndStartFailed                           // the call could not be started for another reason
)

// The CDR states of a finished call (cdr.State has the full list).
const (
	StateConnected = "connected"
	StateCancelled = "cancelled"
	StateFailed    = "failed"
)

// The outcomes of a refused request (label outcome of
// clicktocall_requests_total).
const (
	OutcomeBadRequest = "bad_request" // the request was wrong
	OutcomeRefused    = "refused"     // a limit or shutdown
	OutcomeError      = "error"       // the call could not be started for another reason
)

// ending is one row of the table.
type ending struct {
	name string // for logs and Describe
	// code is the SIP status of the final result; 0: the phone's own
	// status, carried as is (EndRejected).
	code int
	// text is the result text; "" for the leg's "Failed to connect to ...".
	text string
	// reason is the Reason text of the BYE sent to the other phone; "" for
	// the result text of the failed leg as the other phone hears it.
	reason string
	// state is the CDR state of a call that ended so; "" for a refused
	// request, which has no record.
	state string
	// metric is the label value: clicktocall_request_to_final_seconds'
	// outcome for a call, clicktocall_rejections_total's reason for a
	// refusal.
	metric string
	// outcome is clicktocall_requests_total's outcome of a refusal.
	outcome string
	// http is the HTTP and JSON API status of a refusal (an accepted call
	// was answered 200 or 201 at its start).
	http int
	// xml is the XML interface's result code of a refusal (it has one code
	// for every limit, behaviour.md §1.2); for a call, the SIP code.
	xml int
	// retryAfter tells a refused client when to try again.
	retryAfter time.Duration
}

var endings = [...]ending{
	EndAnswered:       {name: "answered", code: sip.StatusOK, state: StateConnected, metric: "connected"},
	EndBusy:           {name: "busy", state: StateFailed, metric: "failed"},
	EndDeclined:       {name: "declined", state: StateFailed, metric: "failed"},
	EndNoAnswer:       {name: "no answer", state: StateFailed, metric: "failed"},
	EndRejected:       {name: "rejected", state: StateFailed, metric: "failed"},
	EndCancelled:      {name: "cancelled", code: sip.StatusRequestTerminated, reason: "Call cancelled", state: StateCancelled, metric: "cancelled"},
	EndReferFailed:    {name: "refer failed", state: StateFailed, metric: "failed"},
	EndTimeout:        {name: "timeout", code: sip.StatusRequestTimeout, state: StateFailed, metric: "failed"},
	EndTransportError: {name: "transport error", code: sip.StatusServiceUnavailable, state: StateFailed, metric: "failed"},
	EndNotAcceptable:  {name: "not acceptable", code: sip.StatusNotAcceptableHere, state: StateFailed, metric: "failed"},
	EndInternal:       {name: "internal error", code: sip.StatusInternalServerError, text: textInternal, reason: textInternal, state: StateFailed, metric: "failed"},
	EndShutDown:       {name: "shut down", code: sip.StatusServiceUnavailable, text: textShuttingDown, reason: textShuttingDown, state: StateFailed, metric: "failed"},
	EndNodeLost:       {name: "node lost", code: sip.StatusServiceUnavailable, text: "Node lost", reason: "Node lost", state: StateFailed, metric: "failed"},

	EndMissingAddress:    {name: "missing address", code: 400, metric: "missing_address", outcome: OutcomeBadRequest, http: 400, xml: 400},
	EndInvalidValue:      {name: "invalid value", code: 400, metric: "invalid_value", outcome: OutcomeBadRequest, http: 400, xml: 400},
	EndNoTranslationRule: {name: "no translation rule", code: 400, metric: "no_translation_rule", outcome: OutcomeBadRequest, http: 400, xml: 400},
	EndInvalidURI:        {name: "invalid uri", code: 400, metric: "invalid_uri", outcome: OutcomeBadRequest, http: 400, xml: 400},
	EndParseError:        {name: "parse error", code: 400, text: "Parse error", metric: "parse_error", outcome: OutcomeBadRequest, http: 400, xml: 400},
	EndNotJSON:           {name: "not json", code: 415, metric: "parse_error", outcome: OutcomeBadRequest, http: 415, xml: 400},
	EndTooLarge:          {name: "too large", code: 413, text: "Request too large", metric: "too_large", outcome: OutcomeBadRequest, http: 413, xml: 413},
	EndRequestTimeout:    {name: "request timeout", code: 408, text: "Request timeout", metric: "request_timeout", outcome: OutcomeBadRequest, http: 408, xml: 408},
	EndTooManyConnections: {name: "too many connections", code: 503, metric: "too_many_connections", outcome: OutcomeRefused, http: 503, xml: 503,
		retryAfter: time.Second},
	EndBadCallback: {name: "bad status callback", code: 400, metric: "bad_status_callback", outcome: OutcomeBadRequest, http: 400, xml: 400},
	EndCallbacksBusy: {name: "status callbacks busy", code: 503, text: "Too many pending status callbacks",
		metric: "status_callbacks_busy", outcome: OutcomeRefused, http: 503, xml: 503, retryAfter: time.Second},
	EndRequestIDConflict: {name: "request id conflict", code: 409, metric: "request_id_conflict", outcome: OutcomeBadRequest, http: 409, xml: 400},
	EndMaxActiveCalls: {name: "max active calls", code: 503, text: "Too many active calls",
		metric: "max_active_calls", outcome: OutcomeRefused, http: 503, xml: 503, retryAfter: time.Second},
	EndMaxPerInitiator: {name: "max calls per initiator", code: 503, text: "Too many calls to this initiator",
		metric: "max_calls_per_initiator", outcome: OutcomeRefused, http: 503, xml: 503, retryAfter: 5 * time.Second},
	EndMaxCallsPerSecond: {name: "max calls per second", code: 503, text: "Call rate limit reached",
		metric: "max_calls_per_second", outcome: OutcomeRefused, http: 503, xml: 503, retryAfter: time.Second},
	EndMaxPerSecondPerIP: {name: "max calls per second per ip", code: 429, text: "Call rate limit reached for this client",
		metric: "max_calls_per_second_per_ip", outcome: OutcomeRefused, http: 429, xml: 503, retryAfter: time.Second},
	EndOverload: {name: "overload", code: 503, text: textOverloaded,
		metric: "overload", outcome: OutcomeRefused, http: 503, xml: 503, retryAfter: time.Second},
	EndRefusedShutDown: {name: "refused: shutting down", code: 503, text: textShuttingDown,
		metric: "shutting_down", outcome: OutcomeRefused, http: 503, xml: 503, retryAfter: 5 * time.Second},
	EndStartFailed: {name: "start failed", code: 500, text: "The call could not be started",
		metric: "start_failed", outcome: OutcomeError, http: 500, xml: 500},
}

func (e Ending) row() ending {
	if int(e) < len(endings) {
		return endings[e]
	}
	return ending{}
}

// String names the ending, for logs.
func (e Ending) String() string {
	if n := e.row().name; n != "" {
		return n
	}
	return fmt.Sprintf("Ending(%d)", uint8(e))
}

// Refused reports whether e is the ending of a request refused before its
// call started.
func (e Ending) Refused() bool { return e.row().outcome != "" }

// Code is the SIP status of the final result; 0 when it is the phone's own.
func (e Ending) Code() int { return e.row().code }

// CodeOr is the SIP status of the final result: the ending's own, or else
// phone, the status the phone (or the transfer) answered.
func (e Ending) CodeOr(phone int) int {
	if c := e.row().code; c != 0 {
		return c
	}
	return phone
}

// ByeReason is the text of the Reason header on the BYE sent to the other
// phone of a call that ended so with code about leg (the leg that failed,
// not the one hung up).
func (e Ending) ByeReason(code int, leg Leg) string {
	if r := e.row().reason; r != "" {
		return r
	}
	return resultText(code, leg)
}

// Text is the result text of a refusal or of an ending with a fixed text
// ("" when it depends on the leg: "Failed to connect to ...").
func (e Ending) Text() string { return e.row().text }

// CDRState is the call record's state after a call ended so; "" for a
// refusal.
func (e Ending) CDRState() string { return e.row().state }

// MetricsLabel is the label of the ending in the metrics: the outcome of
// a call's final, the reason of a refusal.
func (e Ending) MetricsLabel() string { return e.row().metric }

// Outcome is the outcome of a refused request in the metrics
// (bad_request, refused, error); "" for a call.
func (e Ending) Outcome() string { return e.row().outcome }

// HTTPStatus is the HTTP and JSON API status of a refusal.
func (e Ending) HTTPStatus() int { return e.row().http }

// XMLCode is the XML interface's result code of a refusal.
func (e Ending) XMLCode() int { return e.row().xml }

// RetryAfter is how long a refused client is told to wait; 0 for none.
func (e Ending) RetryAfter() time.Duration { return e.row().retryAfter }

// ReferOutcome is the label of clicktocall_refer_outcomes_total for a
// transfer that ended so.
func (e Ending) ReferOutcome() string {
	switch e {
	case EndAnswered:
		return "transferred"
	case EndTimeout:
		return "timeout"
	case EndCancelled:
		return "cancelled"
	}
	return "failed"
}

// TransferFailure is the ending of a transfer whose final NOTIFY reported
// this failure status.
func TransferFailure(code int) Ending {
	if e := PhoneFailure(code); e != EndRejected {
		return e
	}
	return EndReferFailed
}

// PhoneFailure is the ending of a call a phone refused with this final
// status.
func PhoneFailure(code int) Ending {
	switch code {
	case sip.StatusBusyHere, sip.StatusGlobalBusyEverywhere:
		return EndBusy
	case sip.StatusGlobalDecline:
		return EndDeclined
	case sip.StatusTemporarilyUnavailable:
		return EndNoAnswer
	case sip.StatusRequestTimeout:
		return EndTimeout
	case sip.StatusRequestTerminated:
		return EndCancelled
	case sip.StatusNotAcceptableHere:
		return EndNotAcceptable
	}
	return EndRejected
}

// The result texts of behaviour.md §1.2 that are not in the table.
const (
	textInProgress   = "In progress"
	textShuttingDown = "Server shutting down"
	textInternal     = "Internal error"
	textOverloaded   = "Server overloaded" // refused by overload protection
)

// resultText is the text of a result with this code about this leg, when
// its ending has no text of its own.
func resultText(code int, leg Leg) string {
	switch {
	case leg == LegNone && code == sip.StatusTrying:
		return textInProgress
	case ringing(code):
		if leg == LegInitiator {
			return "Ringing initiator"
		}
		return "Ringing destination"
	case rfc3261.Success(code):
		if leg == LegInitiator {
			return "Connected to initiator"
		}
		return "Connected to destination"
	case rfc3261.Failure(code):
		if leg == LegInitiator {
			return "Failed to connect to initiator"
		}
		return "Failed to connect to destination"
	}
	return ""
}

// ringing reports whether code is a 180 or another 18x a leg reports as
// ringing.
func ringing(code int) bool { return code >= sip.StatusRinging && code < sip.StatusOK }
