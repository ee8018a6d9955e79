package transport_test

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/miekg/dns"

	"github.com/clicktocall/clicktocall/transport"
	"github.com/clicktocall/clicktocall/transport/locate/dnstest"
)

// blackHole is a UDP socket that reads requests and never answers.
type blackHole struct {
	conn *net.UDPConn
	got  chan string
}

func newBlackHole(t *testing.T) *blackHole {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	b := &blackHole{conn: conn, got: make(chan string, 100)}
	go func() {
		buf := make([]byte, 65535)
		for {
			n, _, err := conn.ReadFromUDP(buf)
			if err != nil {
				return
			}
			select {
			case b.got <- string(buf[:n]):
			default:
			}
		}
	}()
	t.Cleanup(func() { conn.Close() })
	return b
}

func (b *blackHole) port() int { return b.conn.LocalAddr().(*net.UDPAddr).Port }

// refusedTCPPort is a loopback port nothing listens on: connecting to it is
// refused.
func refusedTCPPort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

func port(addr string) int { return int(netip.MustParseAddrPort(addr).Port()) }

// The destination sip:bob@example.test has two SRV records on the server
// given in sip.dns_servers; the first target never answers, so after Timer B
// the INVITE goes to the second, and the call completes. The Request-URI
// keeps the domain.
func TestSRVFailsOverWhenFirstUDPTargetIsSilent(t *testing.T) {
	silent := newBlackHole(t)
	bob := newPhone(t, "bob", "127.0.0.1", "udp")
	server := dnstest.New(t,
		fmt.Sprintf("_sip._udp.example.test. 60 IN SRV 10 0 %d dead.example.test.", silent.port()),
		fmt.Sprintf("_sip._udp.example.test. 60 IN SRV 20 0 %d live.example.test.", port(bob.Addr("udp"))),
		"dead.example.test. 60 IN A 127.0.0.1", "live.example.test. 60 IN A 127.0.0.1")
	tr := newTransport(t, transport.Options{IPAddress: "127.0.0.1", DNSServers: []string{server.Addr}})
	eng := newEngine(t, tr)
	alice := newPhone(t, "alice", "127.0.0.1", "udp")

	if got := placeCall(t, eng, uri(alice, "udp"), "sip:bob@example.test"); got != "100, 200 I, 200 D" {
		t.Fatalf("results = %q, want 100, 200 I, 200 D", got)
	}
	select {
	case msg := <-silent.got:
		if !strings.HasPrefix(msg, "INVITE sip:bob@example.test SIP/2.0") {
			t.Fatalf("the first target got %q", msg)
		}
	default:
		t.Fatal("the first SRV target got no INVITE")
	}
	inv := receivedInvite(t, bob)
	if inv.Recipient.Host != "example.test" {
		t.Errorf("Request-URI %s, want the domain kept", inv.Recipient.String())
	}
	if server.Queries("_sip._udp.example.test.", dns.TypeSRV) == 0 {
		t.Errorf("the SRV records were not asked for")
	}
}

// NAPTR says TCP; the first SRV target refuses the connection, so the next
// one is tried at once, well before any timer.
func TestNAPTRToTCPFailsOverAtOnceWhenConnectionRefused(t *testing.T) {
	bob := newPhone(t, "bob", "127.0.0.1", "tcp")
	server := dnstest.New(t,
		`example.test. 60 IN NAPTR 10 10 "s" "SIP+D2T" "" _sip._tcp.example.test.`,
		fmt.Sprintf("_sip._tcp.example.test. 60 IN SRV 10 0 %d dead.example.test.", refusedTCPPort(t)),
		fmt.Sprintf("_sip._tcp.example.test. 60 IN SRV 20 0 %d live.example.test.", port(bob.Addr("tcp"))),
		"dead.example.test. 60 IN A 127.0.0.1", "live.example.test. 60 IN A 127.0.0.1")
	tr := newTransport(t, transport.Options{IPAddress: "127.0.0.1", DNSServers: []string{server.Addr}})
	eng := newEngine(t, tr)
	alice := newPhone(t, "alice", "127.0.0.1", "udp")

	start := time.Now()
	if got := placeCall(t, eng, uri(alice, "udp"), "sip:bob@example.test"); got != "100, 200 I, 200 D" {
		t.Fatalf("results = %q, want 100, 200 I, 200 D", got)
	}
	if d := time.Since(start); d > sip.Timer_B/2 {
		t.Errorf("the call took %v: the refused target was not skipped at once", d)
	}
	inv := receivedInvite(t, bob)
	if via := inv.Via(); via.Transport != "TCP" {
		t.Errorf("Via %v, want TCP as NAPTR says", via)
	}
}

// Every target down: the leg fails with 408 (no answer) once each was tried.
func TestAllSRVTargetsSilentIsATimeout(t *testing.T) {
	a, b := newBlackHole(t), newBlackHole(t)
	server := dnstest.New(t,
		fmt.Sprintf("_sip._udp.example.test. 60 IN SRV 10 0 %d h.example.test.", a.port()),
		fmt.Sprintf("_sip._udp.example.test. 60 IN SRV 20 0 %d h.example.test.", b.port()),
		"h.example.test. 60 IN A 127.0.0.1")
	tr := newTransport(t, transport.Options{IPAddress: "127.0.0.1", DNSServers: []string{server.Addr}})
	eng := newEngine(t, tr)
	if got := placeCall(t, eng, "sip:alice@example.test", "sip:bob@127.0.0.1"); got != "100, 408 I" {
		t.Fatalf("results = %q, want 100, 408 I", got)
	}
	for i, hole := range []*blackHole{a, b} {
		if len(hole.got) == 0 {
			t.Errorf("target %d got no INVITE", i+1)
		}
	}
}
