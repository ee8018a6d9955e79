package main

// The SIP torture test: the messages of RFC 4475 (valid and invalid) and
// RFC 5118 (IPv6), rewritten for this project in testdata/torture, are sent
// one by one over UDP and over TCP to a running server. Each must be
// answered as the table says or dropped, the server must answer an OPTIONS
// after each, no handler may panic, and afterwards real calls must still
// complete in both modes.

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clicktocall/clicktocall/config"
)

// tortureWant says what the server may answer to each message, as
// alternatives separated by "|": a status code, a class ("4xx" = any
// 400..499), or "none" (no final response: dropped, or a response that
// matches no transaction). Out-of-dialog requests get behaviour.md §2.3's
// answers: OPTIONS 200, INVITE 403, BYE/CANCEL and requests with a To tag
// 481, other methods 405. sipgo drops what it cannot parse without an
// answer (RFC 3261 §18.3 allows it for datagrams; on a stream the
// connection is then useless and the client closes it).
var tortureWant = map[string]string{
	// RFC 4475 §3.1.1: valid messages a server must take apart correctly.
	"4475-valid-01-tortuous-invite.sip":       "403|481",  // its To tag has spaces around "=": sipgo sees no tag, so 403
	"4475-valid-02-token-method.sip":          "405",      // unknown method
	"4475-valid-03-escaped-uri.sip":           "200",      // OPTIONS
	"4475-valid-04-escaped-nul.sip":           "405",      // REGISTER
	"4475-valid-05-percent-method.sip":        "405",      // unknown method
	"4475-valid-06-display-name-no-space.sip": "200",      // OPTIONS
	"4475-valid-07-long-values.sip":           "403|none", // INVITE; sipgo never sends a UDP response over 1300 bytes
	"4475-valid-08-trailing-octets.sip":       "405|403",  // REGISTER; over TCP the trailer is a second request, an INVITE
	"4475-valid-09-semicolon-user.sip":        "200",      // OPTIONS
	"4475-valid-10-unknown-transports.sip":    "200",      // OPTIONS
	"4475-valid-11-multipart.sip":             "405",      // MESSAGE
	"4475-valid-12-odd-reason.sip":            "none",     // responses are never answered
	"4475-valid-13-empty-reason.sip":          "none",
	// RFC 4475 §3.1.2: invalid messages: 400 is the RFC's answer, but
	// dropping is allowed and sipgo tolerates some (then the normal answer).
	"4475-invalid-01-header-separators.sip":           "4xx|none",
	"4475-invalid-02-content-length-too-big.sip":      "4xx|none",
	"4475-invalid-03-negative-content-length.sip":     "4xx|none",
	"4475-invalid-04-huge-scalars-request.sip":        "4xx|none",
	"4475-invalid-05-huge-scalars-response.sip":       "none",
	"4475-invalid-06-unterminated-quote.sip":          "4xx|none",
	"4475-invalid-07-request-uri-in-angles.sip":       "4xx|none",
	"4475-invalid-08-space-in-request-uri.sip":        "4xx|none",
	"4475-invalid-09-many-spaces-in-request-line.sip": "4xx|none",
	"4475-invalid-10-trailing-space-request-line.sip": "4xx|none",
	"4475-invalid-11-escaped-headers-in-ruri.sip":     "4xx|none", // sipgo takes it: INVITE 403
	"4475-invalid-12-bad-date.sip":                    "4xx|none", // sipgo takes it: INVITE 403
	"4475-invalid-13-contact-needs-angles.sip":        "4xx|none", // sipgo takes it: REGISTER 405
	"4475-invalid-14-spaces-in-addr-spec.sip":         "4xx|none",
	"4475-invalid-15-bad-display-name.sip":            "4xx|none|200", // sipgo takes it: OPTIONS 200
	"4475-invalid-16-unknown-version.sip":             "505|4xx|none",
	"4475-invalid-17-cseq-method-mismatch.sip":        "4xx|none|200", // sipgo takes it: OPTIONS 200
	"4475-invalid-18-unknown-method-mismatch.sip":     "4xx|none",
	"4475-invalid-19-huge-status-code.sip":            "none",
	// RFC 4475 §3.2-3.4: transaction and application semantics.
	"4475-semantic-01-branch-without-cookie.sip":      "200",
	"4475-semantic-02-missing-headers.sip":            "4xx|none", // sipgo takes it: INVITE 403
	"4475-semantic-03-unknown-uri-scheme.sip":         "416|4xx|none|200",
	"4475-semantic-04-atypical-uri-scheme.sip":        "416|4xx|none",
	"4475-semantic-05-unknown-schemes-in-headers.sip": "4xx|none",
	"4475-semantic-06-require-unknown.sip":            "420|403",
	"4475-semantic-07-unknown-content-type.sip":       "415|403",
	"4475-semantic-08-unknown-auth-scheme.sip":        "405",
	"4475-semantic-09-duplicate-single-headers.sip":   "4xx|none",
	"4475-semantic-10-two-content-lengths.sip":        "4xx|none",
	"4475-semantic-11-broadcast-via.sip":              "none",
	"4475-semantic-12-max-forwards-zero.sip":          "200|483",
	"4475-semantic-13-contact-params.sip":             "405",
	"4475-semantic-14-escaped-header-in-contact.sip":  "405",
	"4475-semantic-15-accept-without-sdp.sip":         "403",
	"4475-compat-01-rfc2543-invite.sip":               "403|400", // sipgo cannot key a transaction without a From tag: 400
	// RFC 5118: IPv6 references.
	"5118-01-ipv6-in-request-uri.sip":          "405",
	"5118-02-ipv6-without-brackets.sip":        "4xx|none",
	"5118-03-port-inside-brackets.sip":         "405",
	"5118-04-port-after-brackets.sip":          "405",
	"5118-05-via-received-in-brackets.sip":     "200",
	"5118-06-via-received-no-brackets.sip":     "200",
	"5118-07-ipv6-in-sdp.sip":                  "403",
	"5118-08-several-addresses-in-headers.sip": "481", // BYE for no dialog
	"5118-09-ipv4-and-ipv6-in-sdp.sip":         "403",
	"5118-10-ipv4-mapped-ipv6.sip":             "403",
	"5118-11-three-colons-before-ipv4.sip":     "4xx|none|200", // not an IPv6 address; sipgo takes it
	"5118-12-two-colons-before-ipv4.sip":       "200",
}

func TestTortureMessagesAreAnsweredOrDroppedAndCallsStillComplete(t *testing.T) {
	msgs := loadTorture(t)
	s := startLiveServer(t, liveConfig(t))
	addr := s.tr.Addr()
	learn := os.Getenv("CTC_TORTURE_LEARN") != "" // log what each message got instead of checking
	sent := 0
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			for i, m := range msgs {
				token := fmt.Sprintf("%c%04d", network[0], i)
				data := bytes.ReplaceAll(m.data, []byte("${ID}"), []byte(token))
				want := tortureWant[m.name]
				wait := 150 * time.Millisecond // long enough for a wrong answer to show
				if !strings.Contains(want, "none") {
					wait = 3 * time.Second
				}
				got := sendTorture(t, network, addr, data, wait)
				sent++
				if learn {
					t.Logf("%-50s %v", m.name, got)
				} else if bad := unexpected(want, got); bad != "" {
					t.Errorf("%s over %s: got %v, want %s (%s)", m.name, network, got, want, bad)
				}
				if code := optionsProbe(t, network, addr, "probe-"+token); code != 200 {
					t.Fatalf("after %s over %s the server answered OPTIONS with %d", m.name, network, code)
				}
			}
		})
	}
	t.Logf("%d torture messages sent (%d over each of UDP and TCP)", sent, len(msgs))
	placeCall(t, s, false)
	placeCall(t, s, true)
}

type tortureMessage struct {
	name string
	data []byte
}

// loadTorture reads testdata/torture and checks the table covers exactly
// its files.
func loadTorture(t *testing.T) []tortureMessage {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "torture", "*.sip"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no torture messages: %v", err)
	}
	var msgs []tortureMessage
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(p)
		if _, ok := tortureWant[name]; !ok {
			t.Errorf("%s has no entry in tortureWant", name)
		}
		msgs = append(msgs, tortureMessage{name, data})
	}
	for name := range tortureWant {
		if !slices.ContainsFunc(msgs, func(m tortureMessage) bool { return m.name == name }) {
			t.Errorf("tortureWant names %s, which is not in testdata/torture", name)
		}
	}
	return msgs
}

// unexpected explains why got (final codes; none means no answer) does not
// fit want, or returns "".
func unexpected(want string, got []int) string {
	alts := strings.Split(want, "|")
	if len(got) == 0 {
		if slices.Contains(alts, "none") {
			return ""
		}
		return "no answer"
	}
	for _, code := range got {
		ok := false
		for _, a := range alts {
			if a == strconv.Itoa(code) || (len(a) == 3 && strings.HasSuffix(a, "xx") && a[0] == strconv.Itoa(code)[0]) {
				ok = true
			}
		}
		if !ok {
			return fmt.Sprintf("%d not allowed", code)
		}
	}
	return ""
}

var statusLine = regexp.MustCompile(`(?m)^SIP/2\.0 (\d{3}) `)

// sendTorture sends data on a socket of its own and returns the codes of the
// final responses that came back within wait (stopping at the first one).
func sendTorture(t *testing.T, network, addr string, data []byte, wait time.Duration) []int {
	t.Helper()
	conn, err := net.Dial(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write(data); err != nil {
		t.Fatalf("send: %v", err)
	}
	return readFinals(conn, time.Now().Add(wait))
}

// readFinals reads responses until the first final one or the deadline.
func readFinals(conn net.Conn, deadline time.Time) []int {
	var got []byte
	buf := make([]byte, 65535)
	for {
		_ = conn.SetReadDeadline(deadline)
		n, err := conn.Read(buf)
		got = append(got, buf[:n]...)
		var finals []int
		for _, m := range statusLine.FindAllSubmatch(got, -1) {
			if code, _ := strconv.Atoi(string(m[1])); code >= 200 {
				finals = append(finals, code)
			}
		}
		if len(finals) > 0 || err != nil {
			return finals
		}
	}
}

// optionsProbe sends an out-of-dialog OPTIONS on a new socket and returns
// the final status (0 for none within 5 s; UDP is resent every 500 ms).
func optionsProbe(t *testing.T, network, addr, callID string) int {
	t.Helper()
	conn, err := net.Dial(network, addr)
	if err != nil {
		t.Fatalf("probe: %v", err)
	}
	defer conn.Close()
	local := conn.LocalAddr().String()
	req := []byte("OPTIONS sip:clicktocall@" + addr + " SIP/2.0\r\n" +
		"Via: SIP/2.0/" + strings.ToUpper(network) + " " + local + ";branch=z9hG4bK" + callID + "\r\n" +
		"From: <sip:probe@" + local + ">;tag=pr\r\nTo: <sip:clicktocall@" + addr + ">\r\n" +
		"Call-ID: " + callID + "\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
	end := time.Now().Add(5 * time.Second)
	for time.Now().Before(end) {
		if _, err := conn.Write(req); err != nil {
			t.Fatalf("probe: %v", err)
		}
		next := time.Now().Add(500 * time.Millisecond)
		if network != "udp" {
			next = end
		}
		if finals := readFinals(conn, next); len(finals) > 0 {
			return finals[0]
		}
	}
	return 0
}

func TestOversizeSIPMessagesAreDroppedAndTheServerGoesOn(t *testing.T) {
	for _, limit := range []int{config.Default().SIP.MaxMessageSize, 8192} {
		t.Run(fmt.Sprintf("max_message_size %d", limit), func(t *testing.T) {
			cfg := liveConfig(t)
			cfg.SIP.MaxMessageSize = limit
			oversize(t, startLiveServer(t, cfg))
		})
	}
}

// udpMax cuts b to the largest UDP payload over IPv4.
func udpMax(b []byte) []byte { return b[:min(len(b), 65507)] }

func oversize(t *testing.T, s *liveServer) {
	addr := s.tr.Addr()
	invite := func(headerPad, bodyLen int) []byte {
		body := strings.Repeat("a", bodyLen)
		return []byte("INVITE sip:big@clicktocall.test SIP/2.0\r\n" +
			"Via: SIP/2.0/TCP 192.0.2.1;branch=z9hG4bKbig" + strconv.Itoa(headerPad+bodyLen) + ";rport\r\n" +
			"From: <sip:big@clicktocall.test>;tag=b\r\nTo: <sip:ctc@clicktocall.test>\r\n" +
			"Call-ID: big" + strconv.Itoa(headerPad+bodyLen) + "\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n" +
			"X-Padding: " + strings.Repeat("p", headerPad) + "\r\n" +
			"Content-Type: text/plain\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
	}
	maxSize := s.cfg.SIP.MaxMessageSize
	for _, tc := range []struct {
		name    string
		network string
		data    []byte
		want    string
	}{
		{"TCP, a body past the limit", "tcp", invite(0, 2*maxSize), "4xx|none"},
		{"TCP, headers past the limit", "tcp", invite(maxSize+1, 0), "4xx|none"},
		{"TCP, within the limit", "tcp", invite(maxSize/2, 1000), "403"},
		{"UDP, past the limit", "udp", udpMax(invite(min(maxSize+1, 65000), 0)), "4xx|none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wait := 500 * time.Millisecond
			if !strings.Contains(tc.want, "none") {
				wait = 3 * time.Second
			}
			got := sendTorture(t, tc.network, addr, tc.data, wait)
			if bad := unexpected(tc.want, got); bad != "" {
				t.Errorf("%d bytes: got %v, want %s (%s)", len(tc.data), got, tc.want, bad)
			}
			if code := optionsProbe(t, tc.network, addr, "probe-big"+strconv.Itoa(len(tc.data))); code != 200 {
				t.Fatalf("after %d bytes over %s the server answered OPTIONS with %d", len(tc.data), tc.network, code)
			}
		})
	}
	placeCall(t, s, false)
}
