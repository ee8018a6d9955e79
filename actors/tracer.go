package actors

// CallTracer files the SIP messages the transport sees under the calls they
// belong to, for the message ladder of a call's page. The supervisor tells
// it each leg's SIP Call-ID before the leg sends its first request. It is
// called from call actors and must not block.
type CallTracer interface {
	TraceLeg(callID string, leg Leg, sipCallID string)
}

// traceLeg tells the tracer, if any, which SIP Call-ID a leg of a call uses.
func (s *callSettings) traceLeg(callID string, leg Leg, sipCallID string) {
	if s.tracer != nil {
		s.tracer.TraceLeg(callID, leg, sipCallID)
	}
}
