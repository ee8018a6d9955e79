package actors

import (
	"fmt"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"
)

// rawPeer is a UDP SIP endpoint scripted byte by byte, for races no
// well-behaved phone produces on demand (a 200 that crosses our CANCEL).
type rawPeer struct {
	t    *testing.T
	conn *net.UDPConn
}

func newRawPeer(t *testing.T) *rawPeer {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &rawPeer{t: t, conn: conn}
}

func (p *rawPeer) uri() string {
	return fmt.Sprintf("sip:raw@%s", p.conn.LocalAddr().String())
}

// read returns the next request with this method, skipping others.
func (p *rawPeer) read(method string) (string, *net.UDPAddr) {
	p.t.Helper()
	for {
		msg, from := p.readAny()
		if strings.HasPrefix(msg, method+" ") {
			return msg, from
		}
	}
}

// readAny returns the next datagram, failing the test after 10 s.
func (p *rawPeer) readAny() (string, *net.UDPAddr) {
	p.t.Helper()
	buf := make([]byte, 65535)
	_ = p.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, from, err := p.conn.ReadFromUDP(buf)
	if err != nil {
		p.t.Fatalf("waiting for a message: %v", err)
	}
	return string(buf[:n]), from
}

func headerOf(msg, name string) string {
	m := regexp.MustCompile(`(?mi)^` + name + `:\s*(.*?)\r?$`).FindStringSubmatch(msg)
	if m == nil {
		return ""
	}
	return m[1]
}

// respond answers req with a status line, copying its transaction headers.
func (p *rawPeer) respond(req string, to *net.UDPAddr, status, toTag, body string) {
	p.t.Helper()
	toHdr := headerOf(req, "To")
	if toTag != "" {
		toHdr += ";tag=" + toTag
	}
	var b strings.Builder
	fmt.Fprintf(&b, "SIP/2.0 %s\r\n", status)
	fmt.Fprintf(&b, "Via: %s\r\n", headerOf(req, "Via"))
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\n", headerOf(req, "From"), toHdr)
	fmt.Fprintf(&b, "Call-ID: %s\r\nCSeq: %s\r\n", headerOf(req, "Call-ID"), headerOf(req, "CSeq"))
	fmt.Fprintf(&b, "Contact: <%s>\r\n", p.uri())
	if body != "" {
		b.WriteString("Content-Type: application/sdp\r\n")
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(body), body)
	if _, err := p.conn.WriteToUDP([]byte(b.String()), to); err != nil {
		p.t.Fatal(err)
	}
}

const rawSDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
