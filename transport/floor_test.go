package transport

// The floor under the server's cost per call on a machine: what one SIP
// message costs the kernel (a loopback UDP datagram sent and received) and
// what sipgo's parser and encoder cost for it, with nothing of ours around.
// docs/bench.md multiplies these by the messages a call exchanges to show
// how far the server's CPU per call can fall there.
//
//	go test -run '^$' -bench Floor -benchtime 20000x ./transport

import (
	"bytes"
	"net"
	"testing"

	"github.com/emiago/sipgo/sip"
)

// floorINVITE is an INVITE as the server sends it to an initiator, with a
// typical offer.
var floorINVITE = []byte("INVITE sip:alice@127.0.0.1:15070 SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK.8f3e0c1a2b;rport\r\n" +
	"From: \"clicktocall\" <sip:clicktocall@127.0.0.1:5060>;tag=6b1f0e2d\r\n" +
	"To: <sip:alice@127.0.0.1:15070>\r\n" +
	"Call-ID: 0c3f7d2e-5a4b-4c1d-9e8f-7a6b5c4d3e2f\r\n" +
	"CSeq: 1 INVITE\r\n" +
	"Contact: <sip:clicktocall@127.0.0.1:5060>\r\n" +
	"Max-Forwards: 70\r\n" +
	"Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, REFER, NOTIFY\r\n" +
	"Content-Type: application/sdp\r\n" +
	"Content-Length: 129\r\n\r\n" +
	"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
	"m=audio 16000 RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n")

// BenchmarkFloorDatagram sends one SIP-sized datagram over loopback and
// reads it back: the kernel's share of one message (both ends' syscalls
// are in the figure; the server pays about one of each per message).
func BenchmarkFloorDatagram(b *testing.B) {
	a, c := loopbackUDP(b, "udp4"), loopbackUDP(b, "udp4")
	to := c.LocalAddr().(*net.UDPAddr).AddrPort()
	s := newUDPSender(a)
	buf := make([]byte, 2048)
	b.SetBytes(int64(len(floorINVITE)))
	b.ResetTimer()
	for range b.N {
		if s != nil {
			if _, err := s.send(floorINVITE, to); err != nil {
				b.Fatal(err)
			}
		} else if _, err := a.WriteToUDPAddrPort(floorINVITE, to); err != nil {
			b.Fatal(err)
		}
		if _, _, err := c.ReadFromUDPAddrPort(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFloorParseEncode parses the INVITE with sipgo and encodes it
// again: the least any SIP stack built on sipgo pays per message.
func BenchmarkFloorParseEncode(b *testing.B) {
	p := sip.NewParser()
	b.SetBytes(int64(len(floorINVITE)))
	b.ReportAllocs()
	for range b.N {
		m, err := p.ParseSIP(floorINVITE)
		if err != nil {
			b.Fatal(err)
		}
		buf := encode(m)
		if !bytes.HasPrefix(buf.Bytes(), []byte("INVITE ")) {
			b.Fatalf("encoded %q", buf.Bytes())
		}
		bufPool.Put(buf)
	}
}
