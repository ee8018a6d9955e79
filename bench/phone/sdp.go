package phone

import (
	"bytes"
	"fmt"
	"net"
	"strconv"
	"sync"

	"github.com/pion/sdp/v3"
)

// media is the SDP side of one call: a stable session id whose version grows with every SDP
// the phone sends, as RFC 3264 §8 asks. The phone sends no RTP; the port is only announced.
type media struct {
	mu      sync.Mutex
	host    string
	port    int
	session uint64
	version uint64
}

func hasSDP(body []byte) bool { return len(bytes.TrimSpace(body)) > 0 }

func (m *media) base() *sdp.SessionDescription {
	m.mu.Lock()
	m.version++
	version := m.version
	m.mu.Unlock()
	addrType := "IP4"
	if ip := net.ParseIP(m.host); ip != nil && ip.To4() == nil {
		addrType = "IP6"
	}
	return &sdp.SessionDescription{
		Origin: sdp.Origin{
			Username:       "phone",
			SessionID:      m.session,
			SessionVersion: version,
			NetworkType:    "IN",
			AddressType:    addrType,
			UnicastAddress: m.host,
		},
		SessionName: "phone",
		ConnectionInformation: &sdp.ConnectionInformation{
			NetworkType: "IN",
			AddressType: addrType,
			Address:     &sdp.Address{Address: m.host},
		},
		TimeDescriptions: []sdp.TimeDescription{{}},
	}
}

// offer builds a sendrecv audio offer with PCMU, PCMA and telephone-event.
func (m *media) offer() []byte {
	s := m.base()
	s.MediaDescriptions = []*sdp.MediaDescription{{
		MediaName: sdp.MediaName{
			Media:   "audio",
			Port:    sdp.RangedPort{Value: m.port},
			Protos:  []string{"RTP", "AVP"},
			Formats: []string{"0", "8", "101"},
		},
		Attributes: []sdp.Attribute{
			sdp.NewAttribute("rtpmap", "0 PCMU/8000"),
			sdp.NewAttribute("rtpmap", "8 PCMA/8000"),
			sdp.NewAttribute("rtpmap", "101 telephone-event/8000"),
			sdp.NewAttribute("fmtp", "101 0-16"),
			sdp.NewAttribute("ptime", "20"),
			sdp.NewPropertyAttribute("sendrecv"),
		},
	}}
	b, _ := s.Marshal() // cannot fail: every field is set above
	return b
}

// answer answers offer per RFC 3264 §6: one m= line per offered stream with the same formats,
// a rejected stream (port 0) stays rejected, and the direction is mirrored.
func (m *media) answer(offer []byte) ([]byte, error) {
	var o sdp.SessionDescription
	if err := o.Unmarshal(offer); err != nil {
		return nil, fmt.Errorf("parse SDP offer: %w", err)
	}
	sessionDir := direction(o.Attributes, "sendrecv")
	s := m.base()
	for i, om := range o.MediaDescriptions {
		port := m.port + 2*i
		if om.MediaName.Port.Value == 0 {
			port = 0
		}
		am := &sdp.MediaDescription{MediaName: sdp.MediaName{
			Media:   om.MediaName.Media,
			Port:    sdp.RangedPort{Value: port},
			Protos:  om.MediaName.Protos,
			Formats: om.MediaName.Formats,
		}}
		for _, a := range om.Attributes {
			switch a.Key {
			case "rtpmap", "fmtp", "ptime", "maxptime":
				am.Attributes = append(am.Attributes, a)
			}
		}
		am.Attributes = append(am.Attributes, sdp.NewPropertyAttribute(mirror(direction(om.Attributes, sessionDir))))
		s.MediaDescriptions = append(s.MediaDescriptions, am)
	}
	return s.Marshal()
}

func direction(attrs []sdp.Attribute, fallback string) string {
	for _, a := range attrs {
		switch a.Key {
		case "sendrecv", "sendonly", "recvonly", "inactive":
			return a.Key
		}
	}
	return fallback
}

func mirror(dir string) string {
	switch dir {
	case "sendonly":
		return "recvonly"
	case "recvonly":
		return "sendonly"
	case "inactive":
		return "inactive"
	}
	return "sendrecv"
}

// SDPDirection reports the first direction attribute (sendrecv, sendonly, recvonly, inactive)
// of body's first media stream, or of its session level, or "" when body is not SDP.
func SDPDirection(body []byte) string {
	var s sdp.SessionDescription
	if err := s.Unmarshal(body); err != nil {
		return ""
	}
	dir := direction(s.Attributes, "sendrecv")
	if len(s.MediaDescriptions) > 0 {
		dir = direction(s.MediaDescriptions[0].Attributes, dir)
	}
	return dir
}

// SDPOrigin reports body's o= session id and version, for asserting that a peer keeps one
// stable session whose version increases.
func SDPOrigin(body []byte) (session, version uint64, err error) {
	var s sdp.SessionDescription
	if err := s.Unmarshal(body); err != nil {
		return 0, 0, fmt.Errorf("parse SDP: %w", err)
	}
	return s.Origin.SessionID, s.Origin.SessionVersion, nil
}

// SDPAddress reports body's connection address and first media port as "host:port".
func SDPAddress(body []byte) (string, error) {
	var s sdp.SessionDescription
	if err := s.Unmarshal(body); err != nil {
		return "", fmt.Errorf("parse SDP: %w", err)
	}
	host := ""
	if s.ConnectionInformation != nil && s.ConnectionInformation.Address != nil {
		host = s.ConnectionInformation.Address.Address
	}
	if len(s.MediaDescriptions) == 0 {
		return "", fmt.Errorf("SDP has no media stream")
	}
	md := s.MediaDescriptions[0]
	if md.ConnectionInformation != nil && md.ConnectionInformation.Address != nil {
		host = md.ConnectionInformation.Address.Address
	}
	return net.JoinHostPort(host, strconv.Itoa(md.MediaName.Port.Value)), nil
}
