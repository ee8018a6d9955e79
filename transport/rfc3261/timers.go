// Package rfc3261 names the timer values of SIP's RFC 3261 (§17, Table 4)
// that the server and its settings are built on, and the classes of status
// codes (§7.2), so each is written once.
package rfc3261

import (
	"time"

	"github.com/emiago/sipgo/sip"
)

// T1 is the round-trip time estimate RFC 3261 fixes, 500 ms. The transport
// runs on sipgo's sip.T1, which is T1 unless a test shortens it.
const T1 = 500 * time.Millisecond

// Timer64T1 is 64*T1 = 32 s, the bound many of RFC 3261's timers share:
// Timer B (an INVITE's wait for a final response), Timer F (a non-INVITE's,
// such as a REFER's), Timer H (a failure response's wait for its ACK), Timer
// J (how long a non-INVITE server transaction absorbs retransmissions) and
// the window of a 2xx retransmitted until its ACK (§13.3.1.4). Settings
// default to it.
const Timer64T1 = 64 * T1

// Timer64T1Now is 64 times the T1 in force (sip.T1): Timer64T1, or less
// when a test has shortened T1. The transport's timers use it.
func Timer64T1Now() time.Duration { return 64 * sip.T1 }
