package main

// Limits of the whole server, pushed from loopback: 127.0.0.2 plays the
// abusive client, 127.0.0.1 the normal one that must not notice.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	simphone "github.com/clicktocall/clicktocall/bench/phone"
)

var (
	normalIP  = net.IPv4(127, 0, 0, 1)
	abusiveIP = net.IPv4(127, 0, 0, 2)
)

// dialFrom connects to addr from the loopback address local.
func dialFrom(t *testing.T, local net.IP, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: local}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// httpCall asks for a call over HTTP from local and returns the answer's
// status and Retry-After.
func httpCall(t *testing.T, s *liveServer, local net.IP, initiator, destination string) (int, string) {
	t.Helper()
	c := dialFrom(t, local, s.httpAddr)
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "GET /clicktocall.html?initiator=%s&destination=%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		urlEscape(initiator), urlEscape(destination))
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("http answer: %v", err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	return res.StatusCode, res.Header.Get("Retry-After")
}

func urlEscape(s string) string {
	r := strings.NewReplacer(":", "%3A", "@", "%40", ";", "%3B", "=", "%3D")
	return r.Replace(s)
}

// xmlResult is one <Result> of an XML response.
type xmlResultLine struct {
	code int
	leg  string
	text string
}

var resultRE = regexp.MustCompile(`<Result Code="(\d+)"(?: Leg="(\w+)")?(?: RetryAfter="\d+")?>([^<]*)</Result>`)

// xmlCall sends one unanchored call's request over conn and returns its
// results up to the final one.
func xmlCall(t *testing.T, conn net.Conn, initiator, destination string) []xmlResultLine {
	t.Helper()
	return xmlCallMode(t, conn, initiator, destination, false)
}

func xmlCallMode(t *testing.T, conn net.Conn, initiator, destination string, anchor bool) []xmlResultLine {
	t.Helper()
	_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
	fmt.Fprintf(conn, "<ClickToCall><Request><Initiator>%s</Initiator><Destination>%s</Destination>"+
		"<AnchorCall>%t</AnchorCall></Request></ClickToCall>\n", initiator, destination, anchor)
	return readXMLResults(t, bufio.NewReader(conn))
}

func readXMLResults(t *testing.T, br *bufio.Reader) []xmlResultLine {
	t.Helper()
	var got []xmlResultLine
	for {
		line, err := br.ReadString('\n')
		if m := resultRE.FindStringSubmatch(line); m != nil {
			code, _ := strconv.Atoi(m[1])
			r := xmlResultLine{code, m[2], m[3]}
			got = append(got, r)
			if code >= 300 || (code >= 200 && r.leg == "Destination") {
				return got
			}
		}
		if err != nil {
			t.Fatalf("xml results so far %v: %v", got, err)
		}
	}
}

func lastOf(rs []xmlResultLine) xmlResultLine { return rs[len(rs)-1] }

// firstStatus reads what the server sends on a flood connection until it
// closes it and returns the status it carried ("http 408", "xml 503"), or
// says how the connection ended without one.
func firstStatus(c net.Conn, deadline time.Time) string {
	_ = c.SetReadDeadline(deadline)
	all, err := io.ReadAll(c)
	s := string(all)
	if m := resultRE.FindStringSubmatch(s); m != nil {
		return "xml " + m[1]
	}
	if strings.HasPrefix(s, "HTTP/1.1 ") && len(s) >= 12 {
		return "http " + s[9:12]
	}
	var ne net.Error
	switch {
	case err == nil:
		return "closed without an answer"
	case errors.As(err, &ne) && ne.Timeout():
		return "still open"
	}
	return "reset without an answer"
}

// envInt is a test's size from the environment (hardening.sh scales the
// tests up with it), else def.
func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func TestSlowlorisFloodDoesNotStopANormalClient(t *testing.T) {
	// CTC_FLOOD slow connections per interface from one address, half of
	// them over its max_connections_per_ip.
	flood := envInt("CTC_FLOOD", 200)
	perIP := flood / 2
	const readTimeout = time.Second
	cfg := liveConfig(t)
	cfg.HTTP.ReadTimeout, cfg.HTTP.MaxConnsPerIP = readTimeout, perIP
	cfg.XML.ReadTimeout, cfg.XML.MaxConnsPerIP = readTimeout, perIP
	s := startLiveServer(t, cfg)
	ini := s.phone("alice", simphone.Behaviour{})
	dst := s.phone("bob", simphone.Behaviour{})
	iu, du := ini.URI("udp"), dst.URI("udp")

	// 200 HTTP and 200 XML connections from one address, each sending the
	// start of a request and then a byte every 200 ms.
	var slow []net.Conn
	for i := 0; i < flood; i++ {
		h := dialFrom(t, abusiveIP, s.httpAddr)
		_, _ = io.WriteString(h, "GET /clicktocall.html?initiator=1&destination=2 HTTP/1.1\r\nHost: x\r\n")
		x := dialFrom(t, abusiveIP, s.xmlAddr)
		_, _ = io.WriteString(x, "<ClickToCall><Request><Initiator>")
		slow = append(slow, h, x)
	}
	stop := make(chan struct{})
	var trickling sync.WaitGroup
	trickling.Add(1)
	go func() {
		defer trickling.Done()
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			for _, c := range slow {
				_ = c.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
				_, _ = c.Write([]byte("X"))
			}
		}
	}()
	defer func() { close(stop); trickling.Wait() }()

	// Meanwhile a normal client at another address is served at once, on
	// both interfaces, and its calls complete.
	start := time.Now()
	if code, _ := httpCall(t, s, normalIP, iu.String(), du.String()); code != 200 {
		t.Fatalf("normal HTTP client got %d during the flood", code)
	}
	httpTook := time.Since(start)
	start = time.Now()
	xc := dialFrom(t, normalIP, s.xmlAddr)
	got := xmlCall(t, xc, iu.String(), du.String())
	if lastOf(got).code != 200 {
		t.Fatalf("normal XML client got %v during the flood", got)
	}
	xmlTook := time.Since(start)
	if httpTook > readTimeout/2 {
		t.Errorf("the normal HTTP request took %v during the flood", httpTook)
	}

	// Past the per-address limit the flood was refused (HTTP 429 with
	// Retry-After, XML 503); the admitted connections are cut off by the
	// read timeouts (408) and closed, so none outlives them by much.
	counts := map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	deadline := time.Now().Add(readTimeout + 3*time.Second)
	for _, c := range slow {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status := firstStatus(c, deadline)
			mu.Lock()
			counts[status]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	want := map[string]int{"http 429": flood - perIP, "http 408": perIP, "xml 503": flood - perIP, "xml 408": perIP}
	for k, n := range want {
		if counts[k] != n {
			t.Errorf("flood connections: %v, want %v", counts, want)
			break
		}
	}
	t.Logf("%d slow connections from one address: %v; meanwhile a normal HTTP request took %v, a whole XML call %v",
		2*flood, counts, httpTook, xmlTook)
	waitNoCalls(t, s, 10*time.Second)
}

// burst asks for n calls over HTTP, from the addresses in turn, and counts
// the answers; a 429 or 503 must carry Retry-After 1.
func burst(t *testing.T, s *liveServer, n int, ini, dst string, from ...net.IP) map[int]int {
	t.Helper()
	codes := map[int]int{}
	for i := 0; i < n; i++ {
		code, retry := httpCall(t, s, from[i%len(from)], ini, dst)
		codes[code]++
		if (code == 429 || code == 503) && retry != "1" {
			t.Fatalf("%d with Retry-After %q, want 1", code, retry)
		}
	}
	return codes
}

func TestCallRatePerClientIsLimitedAndSparesOtherClients(t *testing.T) {
	cfg := liveConfig(t)
	cfg.Limits.MaxCallsPerSecondPerIP = 5
	s := startLiveServer(t, cfg)
	// The initiator is busy: every admitted call ends at once.
	bu := s.phone("busy", simphone.Behaviour{RejectCode: 486}).URI("udp")
	ini, dst := bu.String(), "sip:nobody@127.0.0.1:9"

	// A burst of 30 from one address: its bucket (5) lets the first through,
	// then 429 with Retry-After; over XML the same address gets 503.
	codes := burst(t, s, 30, ini, dst, abusiveIP)
	if codes[200] < 5 || codes[200] > 7 || codes[429] != 30-codes[200] {
		t.Fatalf("burst from one address: %v, want about 5 accepted and the rest 429", codes)
	}
	if r := lastOf(xmlCall(t, dialFrom(t, abusiveIP, s.xmlAddr), ini, dst)); r.code != 503 {
		t.Fatalf("XML from the limited address: %+v, want 503", r)
	}
	// Another address is not limited by it, over either interface.
	if code, _ := httpCall(t, s, normalIP, ini, dst); code != 200 {
		t.Fatalf("another address got %d over HTTP", code)
	}
	if r := xmlCall(t, dialFrom(t, normalIP, s.xmlAddr), ini, dst); r[0].code != 100 {
		t.Fatalf("another address got %v over XML", r)
	}
	t.Logf("burst of 30 from one address: %v", codes)
	waitNoCalls(t, s, 10*time.Second)
}

func TestTotalCallRateIsLimitedWith503(t *testing.T) {
	const perSecond = 20
	cfg := liveConfig(t)
	cfg.Limits.MaxCallsPerSecond = perSecond
	s := startLiveServer(t, cfg)
	bu := s.phone("busy", simphone.Behaviour{RejectCode: 486}).URI("udp")
	var ips []net.IP
	for i := 1; i <= 10; i++ {
		ips = append(ips, net.IPv4(127, 0, 1, byte(i)))
	}
	start := time.Now()
	codes := burst(t, s, 3*perSecond, bu.String(), "sip:nobody@127.0.0.1:9", ips...)
	// The bucket holds a second's worth and refills while the burst runs.
	refill := int(time.Since(start).Seconds()*perSecond) + 1
	if codes[503] == 0 || codes[200] < perSecond || codes[200] > perSecond+refill || codes[200]+codes[503] != 3*perSecond {
		t.Fatalf("burst of %d from ten addresses: %v, want %d..%d accepted and the rest 503", 3*perSecond, codes, perSecond, perSecond+refill)
	}
	t.Logf("burst of %d from ten addresses at %d/s: %v", 3*perSecond, perSecond, codes)
	waitNoCalls(t, s, 10*time.Second)
}

func TestAClientOverItsRateLeavesTheTotalRateToOthers(t *testing.T) {
	cfg := liveConfig(t)
	cfg.Limits.MaxCallsPerSecondPerIP = 5
	cfg.Limits.MaxCallsPerSecond = 20
	s := startLiveServer(t, cfg)
	bu := s.phone("busy", simphone.Behaviour{RejectCode: 486}).URI("udp")
	ini, dst := bu.String(), "sip:nobody@127.0.0.1:9"
	codes := burst(t, s, 30, ini, dst, abusiveIP)
	if codes[503] != 0 {
		t.Errorf("the limited client was refused with 503 (the total rate): %v", codes)
	}
	if code, _ := httpCall(t, s, normalIP, ini, dst); code != 200 {
		t.Fatalf("another address got %d after one client's burst", code)
	}
}

func TestConcurrentCallsToOneInitiatorAreCapped(t *testing.T) {
	cfg := liveConfig(t)
	cfg.Limits.MaxCallsPerInitiator = 2
	s := startLiveServer(t, cfg)
	ringing := s.phone("victim", simphone.Behaviour{Ring: true, NoAnswer: true})
	other := s.phone("other", simphone.Behaviour{RejectCode: 486})
	vu, ou := ringing.URI("udp"), other.URI("udp")
	victim, dst := vu.String(), "sip:nobody@127.0.0.1:9"

	// Two calls ring the victim; a third over HTTP and a fourth over XML are
	// refused with 503, from any address.
	for i := 0; i < 2; i++ {
		if code, _ := httpCall(t, s, normalIP, victim, dst); code != 200 {
			t.Fatalf("call %d to the initiator got %d", i+1, code)
		}
	}
	if code, retry := httpCall(t, s, abusiveIP, victim, dst); code != 503 || retry == "" {
		t.Fatalf("third call: %d Retry-After %q, want 503 with Retry-After", code, retry)
	}
	r := lastOf(xmlCall(t, dialFrom(t, abusiveIP, s.xmlAddr), victim, dst))
	if r.code != 503 || !strings.Contains(r.text, "initiator") {
		t.Fatalf("fourth call over XML: %+v, want 503 naming the initiator", r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := ringing.WaitFor(ctx, func(calls []simphone.Call) bool { return len(calls) >= 2 }); err != nil {
		t.Fatal(err)
	}
	if n := len(ringing.Calls()); n != 2 {
		t.Fatalf("the initiator got %d calls, want 2", n)
	}
	// Another initiator is not affected.
	if code, _ := httpCall(t, s, abusiveIP, ou.String(), dst); code != 200 {
		t.Fatalf("a call to another initiator got %d", code)
	}
	// Once the ringing calls end (ring timeout), the initiator can be called again.
	waitNoCalls(t, s, cfg.SIP.RingTimeout+10*time.Second)
	if code, _ := httpCall(t, s, normalIP, victim, dst); code != 200 {
		t.Fatalf("after the calls ended: %d", code)
	}
}
