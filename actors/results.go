package actors

// The result texts of behaviour.md §1.2, in one place.
const (
	textInProgress   = "In progress"
	textShuttingDown = "Server shutting down"
	textInternal     = "Internal error"
	textOverloaded   = "Server overloaded" // refused by overload protection
)

// resultText is the text of a result with this code about this leg.
func resultText(code int, leg Leg) string {
	switch {
	case leg == LegNone && code == 100:
		return textInProgress
	case code >= 180 && code < 200:
		if leg == LegInitiator {
			return "Ringing initiator"
		}
		return "Ringing destination"
	case code >= 200 && code < 300:
		if leg == LegInitiator {
			return "Connected to initiator"
		}
		return "Connected to destination"
	case code == 503 && leg == LegNone:
		return textShuttingDown
	case code >= 300:
		if leg == LegInitiator {
			return "Failed to connect to initiator"
		}
		return "Failed to connect to destination"
	}
	return ""
}
