package rfc3261

import "github.com/emiago/sipgo/sip"

// The bounds of a response's status code and of its classes (RFC 3261 §7.2,
// §21): 1xx provisional, 2xx success, 3xx to 6xx final failures. Single codes
// have sipgo's names (sip.StatusOK, ...).
const (
	MinStatus  = sip.StatusTrying // 100, the first status code
	MinFailure = 300              // the first 3xx: a final response from here on is a failure
	MaxStatus  = 699              // the last 6xx
)

// ValidStatus reports whether code is a status code at all (100..699).
func ValidStatus(code int) bool { return code >= MinStatus && code <= MaxStatus }

// Provisional reports whether code is a 1xx, which no transaction ends on.
func Provisional(code int) bool { return code < sip.StatusOK }

// Success reports whether code is a 2xx.
func Success(code int) bool { return code >= sip.StatusOK && code < MinFailure }

// Failure reports whether code is a final failure: 3xx to 6xx.
func Failure(code int) bool { return code >= MinFailure }
