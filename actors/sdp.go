package actors

import (
	"fmt"
	"math/rand/v2"
	"net"

	"github.com/pion/sdp/v3"
)

// sdpSession is the one SDP session a leg sees from the server (RFC 3264
// §5: the origin's session id stays the same, its version increases with
// every new description). Not safe for concurrent use: a leg owns it.
type sdpSession struct {
	id      uint64
	version uint64
	addr    string
}

func newSDPSession(addr string) *sdpSession {
	return &sdpSession{id: rand.Uint64N(1<<62) + 1, addr: addr}
}

func addrType(addr string) string {
	if ip := net.ParseIP(addr); ip != nil && ip.To4() == nil {
		return "IP6"
	}
	return "IP4"
}

// placeholder is the first offer to the initiator (RFC 3725 flow IV): one
// audio stream on the server's address, inactive until the destination's
// media replaces it.
func (s *sdpSession) placeholder() []byte {
	s.version++
	at := addrType(s.addr)
	d := &sdp.SessionDescription{
		Origin: sdp.Origin{Username: "clicktocall", SessionID: s.id, SessionVersion: s.version,
			NetworkType: "IN", AddressType: at, UnicastAddress: s.addr},
		SessionName:           "clicktocall",
		ConnectionInformation: &sdp.ConnectionInformation{NetworkType: "IN", AddressType: at, Address: &sdp.Address{Address: s.addr}},
		TimeDescriptions:      []sdp.TimeDescription{{}},
		MediaDescriptions: []*sdp.MediaDescription{{
			MediaName: sdp.MediaName{Media: "audio", Port: sdp.RangedPort{Value: 9}, Protos: []string{"RTP", "AVP"}, Formats: []string{"0", "8", "101"}},
			Attributes: []sdp.Attribute{
				{Key: "rtpmap", Value: "0 PCMU/8000"},
				{Key: "rtpmap", Value: "8 PCMA/8000"},
				{Key: "rtpmap", Value: "101 telephone-event/8000"},
				{Key: "inactive"},
			},
		}},
	}
	b, _ := d.Marshal() // a description built here always marshals
	return b
}

// rewrite returns the description of the far leg as this leg's next version:
// the media are the far phone's, the origin is this session's.
func (s *sdpSession) rewrite(body []byte) ([]byte, error) {
	var d sdp.SessionDescription
	if err := d.Unmarshal(body); err != nil {
		return nil, fmt.Errorf("parse sdp: %w", err)
	}
	// pion accepts "" and other non-descriptions; nothing to bridge there.
	if d.Origin.UnicastAddress == "" || len(d.MediaDescriptions) == 0 {
		return nil, fmt.Errorf("sdp has no origin or no media")
	}
	s.version++
	// The whole origin is this leg's session (RFC 4566 5.2; RFC 3264 8:
	// only the version may change between descriptions of one session).
	d.Origin = sdp.Origin{Username: "clicktocall", SessionID: s.id, SessionVersion: s.version,
		NetworkType: "IN", AddressType: addrType(s.addr), UnicastAddress: s.addr}
	out, err := d.Marshal()
	if err != nil {
		return nil, fmt.Errorf("marshal sdp: %w", err)
	}
	// pion accepts some descriptions it cannot write back in a parsable
	// form (empty fields); a phone must never get one from us.
	var check sdp.SessionDescription
	if err := check.Unmarshal(out); err != nil {
		return nil, fmt.Errorf("sdp does not survive a rewrite: %w", err)
	}
	return out, nil
}
