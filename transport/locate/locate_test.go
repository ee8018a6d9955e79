package locate

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/clicktocall/clicktocall/transport/locate/dnstest"
)

func newTestResolver(t *testing.T, server *dnstest.Server, transports ...string) *Resolver {
	t.Helper()
	r, err := New(Options{Servers: []string{server.Addr}, Transports: transports, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func resolve(t *testing.T, r *Resolver, q Query) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	targets, err := r.Resolve(ctx, q)
	if err != nil {
		t.Fatalf("Resolve(%+v): %v", q, err)
	}
	out := make([]string, len(targets))
	for i, tg := range targets {
		out[i] = tg.String()
		if tg.Name != q.Host {
			t.Errorf("target %s names %q, want the URI's host %q", tg, tg.Name, q.Host)
		}
	}
	return strings.Join(out, " ")
}

func TestSRVTargetsByPriorityThenWeight(t *testing.T) {
	server := dnstest.New(t,
		"_sip._udp.example.test. 60 IN SRV 10 0 5001 a.example.test.",
		"_sip._udp.example.test. 60 IN SRV 20 90 5002 b.example.test.",
		"_sip._udp.example.test. 60 IN SRV 20 10 5003 c.example.test.",
		"_sip._udp.example.test. 60 IN SRV 30 0 5004 d.example.test.",
		"a.example.test. 60 IN A 192.0.2.1", "b.example.test. 60 IN A 192.0.2.2",
		"c.example.test. 60 IN A 192.0.2.3", "d.example.test. 60 IN A 192.0.2.4")
	r := newTestResolver(t, server)
	const runs = 1000
	bFirst := 0
	for range runs {
		got := resolve(t, r, Query{Host: "example.test", Transport: "UDP"})
		switch got {
		case "udp:192.0.2.1:5001 udp:192.0.2.2:5002 udp:192.0.2.3:5003 udp:192.0.2.4:5004":
			bFirst++
		case "udp:192.0.2.1:5001 udp:192.0.2.3:5003 udp:192.0.2.2:5002 udp:192.0.2.4:5004":
		default:
			t.Fatalf("targets %q: not in priority order", got)
		}
	}
	// Weight 90 against 10: b comes first about 9 times in 10.
	if bFirst < runs*80/100 || bFirst > runs*97/100 {
		t.Fatalf("weight 90 of 100 came first %d times in %d", bFirst, runs)
	}
}

func TestNAPTRPicksTransportsInOrder(t *testing.T) {
	server := dnstest.New(t,
		`example.test. 60 IN NAPTR 20 10 "s" "SIP+D2U" "" _sip._udp.example.test.`,
		`example.test. 60 IN NAPTR 10 10 "s" "SIP+D2T" "" _sip._tcp.example.test.`,
		`example.test. 60 IN NAPTR 5 10 "s" "SIPS+D2T" "" _sips._tcp.example.test.`,
		`example.test. 60 IN NAPTR 1 10 "u" "E2U+sip" "!^.*$!sip:x@example.test!" .`,
		"_sip._udp.example.test. 60 IN SRV 10 0 5060 sip.example.test.",
		"_sip._tcp.example.test. 60 IN SRV 10 0 5060 sip.example.test.",
		"_sips._tcp.example.test. 60 IN SRV 10 0 5061 sip.example.test.",
		"sip.example.test. 60 IN A 192.0.2.10", "sip.example.test. 60 IN AAAA 2001:db8::10")
	noTLS := newTestResolver(t, server, "UDP", "TCP")
	want := "tcp:192.0.2.10:5060 tcp:[2001:db8::10]:5060 udp:192.0.2.10:5060 udp:[2001:db8::10]:5060"
	if got := resolve(t, noTLS, Query{Host: "example.test"}); got != want {
		t.Errorf("without TLS: %q, want %q", got, want)
	}
	withTLS := newTestResolver(t, server, "UDP", "TCP", "TLS")
	if got := resolve(t, withTLS, Query{Host: "example.test"}); !strings.HasPrefix(got, "tls:192.0.2.10:5061 ") {
		t.Errorf("with TLS: %q, want the SIPS+D2T record first", got)
	}
	if got := resolve(t, withTLS, Query{Host: "example.test", Secure: true}); got != "tls:192.0.2.10:5061 tls:[2001:db8::10]:5061" {
		t.Errorf("sips: %q, want only TLS", got)
	}
}

func TestWithoutNAPTRTheSRVOfEachTransportThenAddresses(t *testing.T) {
	server := dnstest.New(t,
		"_sip._tcp.srv.test. 60 IN SRV 10 0 5070 host.srv.test.",
		"host.srv.test. 60 IN A 192.0.2.20",
		"plain.test. 60 IN A 192.0.2.30", "plain.test. 60 IN AAAA 2001:db8::30")
	r := newTestResolver(t, server)
	if got := resolve(t, r, Query{Host: "srv.test"}); got != "tcp:192.0.2.20:5070" {
		t.Errorf("SRV for TCP only: %q", got)
	}
	if server.Queries("_sip._udp.srv.test.", dns.TypeSRV) != 1 {
		t.Errorf("UDP's SRV was not asked first")
	}
	if got := resolve(t, r, Query{Host: "plain.test"}); got != "udp:192.0.2.30:5060 udp:[2001:db8::30]:5060" {
		t.Errorf("no SRV: %q, want A then AAAA on 5060", got)
	}
	if got := resolve(t, r, Query{Host: "plain.test", Secure: true}); got != "tls:192.0.2.30:5061 tls:[2001:db8::30]:5061" {
		t.Errorf("sips without TLS support still resolves to TLS (the caller refuses it): %q", got)
	}
}

func TestPortOrTransportLimitTheLookups(t *testing.T) {
	server := dnstest.New(t,
		`p.test. 60 IN NAPTR 10 10 "s" "SIP+D2T" "" _sip._tcp.p.test.`,
		"_sip._tcp.p.test. 60 IN SRV 10 0 5090 h.p.test.",
		"_sips._tcp.p.test. 60 IN SRV 10 0 5091 h.p.test.",
		"h.p.test. 60 IN A 192.0.2.40", "p.test. 60 IN A 192.0.2.41")
	r := newTestResolver(t, server, "UDP", "TCP", "TLS")
	if got := resolve(t, r, Query{Host: "p.test", Port: 5080}); got != "udp:192.0.2.41:5080" {
		t.Errorf("with a port: %q, want the host's address on that port over UDP", got)
	}
	if n := server.Queries("p.test.", dns.TypeNAPTR) + server.Queries("_sip._tcp.p.test.", dns.TypeSRV); n != 0 {
		t.Errorf("a URI with a port made %d NAPTR/SRV queries", n)
	}
	if got := resolve(t, r, Query{Host: "p.test", Transport: "TLS"}); got != "tls:192.0.2.40:5091" {
		t.Errorf("transport=tls: %q", got)
	}
	if got := resolve(t, r, Query{Host: "p.test", Transport: "TCP", Secure: true}); got != "tls:192.0.2.40:5091" {
		t.Errorf("sips with transport=tcp: %q, want TLS", got)
	}
	if server.Queries("p.test.", dns.TypeNAPTR) != 0 {
		t.Errorf("a URI with a transport asked for NAPTR")
	}
}

func TestCacheHonoursTTLs(t *testing.T) {
	server := dnstest.New(t,
		"_sip._udp.ttl.test. 60 IN SRV 10 0 5060 h.ttl.test.",
		"h.ttl.test. 300 IN A 192.0.2.50")
	r := newTestResolver(t, server)
	now := time.Now()
	r.now = func() time.Time { return now }
	count := func() string {
		return fmt.Sprintf("NAPTR %d, SRV %d, A %d", server.Queries("ttl.test.", dns.TypeNAPTR),
			server.Queries("_sip._udp.ttl.test.", dns.TypeSRV), server.Queries("h.ttl.test.", dns.TypeA))
	}
	q := Query{Host: "ttl.test"}
	resolve(t, r, q)
	resolve(t, r, q)
	if got := count(); got != "NAPTR 1, SRV 1, A 1" {
		t.Fatalf("within the TTLs: %s", got)
	}
	now = now.Add(time.Duration(dnstest.NegativeTTL+1) * time.Second) // the absent NAPTR expires (SOA minimum)
	resolve(t, r, q)
	if got := count(); got != "NAPTR 2, SRV 1, A 1" {
		t.Fatalf("after the negative TTL: %s", got)
	}
	now = now.Add(60 * time.Second) // the SRV expires, the A has not
	resolve(t, r, q)
	if got := count(); got != "NAPTR 3, SRV 2, A 1" {
		t.Fatalf("after the SRV's TTL: %s", got)
	}
}

func TestUnknownHostIsAnError(t *testing.T) {
	r := newTestResolver(t, dnstest.New(t))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if targets, err := r.Resolve(ctx, Query{Host: "nowhere.invalid"}); err == nil {
		t.Fatalf("Resolve of an unknown host: %v, no error", targets)
	}
}
