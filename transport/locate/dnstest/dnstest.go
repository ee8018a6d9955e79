// Package dnstest runs a DNS server on 127.0.0.1 for tests, like httptest
// does for HTTP: it answers from the records it is given (NXDOMAIN with an
// SOA for names it has none of, so negative answers can be cached) and
// counts the queries it gets.
package dnstest

import (
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// Server is a running test DNS server.
type Server struct {
	Addr string // "127.0.0.1:port", for the resolver under test

	srv     *dns.Server
	mu      sync.Mutex
	records map[key][]dns.RR
	names   map[string]bool
	queries map[key]int
}

type key struct {
	name  string
	qtype uint16
}

// NegativeTTL is the SOA minimum sent with every NXDOMAIN or empty answer.
const NegativeTTL = 30

// New starts a server on 127.0.0.1:0 with these records, in zone file
// syntax ("_sip._udp.example.test. 60 IN SRV 10 0 5060 a.example.test."),
// and stops it when the test ends.
func New(t testing.TB, records ...string) *Server {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Addr: pc.LocalAddr().String(), records: map[key][]dns.RR{}, names: map[string]bool{}, queries: map[key]int{}}
	s.Add(t, records...)
	started := make(chan struct{})
	s.srv = &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(s.answer), NotifyStartedFunc: func() { close(started) }}
	go func() { _ = s.srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = s.srv.Shutdown() })
	return s
}

// Add adds records.
func (s *Server) Add(t testing.TB, records ...string) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range records {
		rr, err := dns.NewRR(r)
		if err != nil {
			t.Fatalf("dnstest record %q: %v", r, err)
		}
		k := key{strings.ToLower(rr.Header().Name), rr.Header().Rrtype}
		s.records[k] = append(s.records[k], rr)
		s.names[k.name] = true
	}
}

// Queries counts the queries for this name (a FQDN) and type so far.
func (s *Server) Queries(name string, qtype uint16) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries[key{strings.ToLower(dns.Fqdn(name)), qtype}]
}

func (s *Server) answer(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	if len(req.Question) == 1 {
		q := req.Question[0]
		k := key{strings.ToLower(q.Name), q.Qtype}
		s.mu.Lock()
		s.queries[k]++
		m.Answer = append(m.Answer, s.records[k]...)
		known := s.names[k.name]
		s.mu.Unlock()
		if len(m.Answer) == 0 {
			if !known {
				m.Rcode = dns.RcodeNameError
			}
			soa, _ := dns.NewRR("test. 60 IN SOA ns.test. admin.test. 1 60 60 60 30")
			m.Ns = append(m.Ns, soa)
		}
	}
	_ = w.WriteMsg(m)
}
