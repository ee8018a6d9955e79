// Package locate finds where a SIP request goes: RFC 3263 resolution of a
// SIP or SIPS URI's host into an ordered list of targets (transport, IP
// address, port) to try one after the other — NAPTR where the domain has it,
// then SRV ordered by priority and weight (RFC 2782), then A and AAAA — with
// the DNS servers the server is configured with and a cache that honours the
// records' TTLs. It knows nothing of SIP messages; package transport sends.
package locate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// Query is the part of a URI that resolution depends on.
type Query struct {
	Host      string // a domain name; IP literals need no resolution
	Port      int    // 0: the URI has none, so SRV (and NAPTR) apply
	Transport string // "UDP", "TCP" or "TLS" from ;transport=, "" when absent
	Secure    bool   // a sips: URI: TLS only
}

// Target is one place to send a request to.
type Target struct {
	Transport string // "UDP", "TCP" or "TLS"
	Addr      netip.AddrPort
	// Name is the domain the target serves: the URI's host, which a TLS
	// peer's certificate must match (RFC 5922 §4), not the SRV target.
	Name string
}

func (t Target) String() string { return strings.ToLower(t.Transport) + ":" + t.Addr.String() }

// Options configures a Resolver.
type Options struct {
	// Servers are the DNS servers ("ip:port"), tried in order; nil reads
	// the system's from /etc/resolv.conf.
	Servers []string
	// Transports the caller can send on, in order of preference; the
	// default is UDP then TCP.
	Transports []string
	// Timeout bounds one query to one server; default 2 s.
	Timeout time.Duration
	Logger  *slog.Logger
}

// Resolver resolves SIP URIs; it is safe for concurrent use.
type Resolver struct {
	servers    []string
	transports []string
	udp, tcp   *dns.Client
	hosts      *net.Resolver // A/AAAA for names DNS does not know (/etc/hosts)
	log        *slog.Logger
	next       atomic.Uint32 // round robin of the net.Resolver's dials

	mu    sync.Mutex
	cache map[cacheKey]cacheEntry
	now   func() time.Time
}

type cacheKey struct {
	name  string
	qtype uint16
}

type cacheEntry struct {
	rrs     []dns.RR
	addrs   []netip.Addr // qtype 0: a host lookup through the system resolver
	expires time.Time
}

const (
	maxCacheEntries = 4096
	maxTTL          = 24 * time.Hour
	hostsTTL        = 30 * time.Second // system resolver answers carry no TTL
)

// New makes a Resolver.
func New(o Options) (*Resolver, error) {
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if len(o.Transports) == 0 {
		o.Transports = []string{"UDP", "TCP"}
	}
	r := &Resolver{
		servers:    o.Servers,
		transports: o.Transports,
		udp:        &dns.Client{Net: "udp", Timeout: o.Timeout},
		tcp:        &dns.Client{Net: "tcp", Timeout: o.Timeout},
		log:        o.Logger,
		cache:      map[cacheKey]cacheEntry{},
		now:        time.Now,
	}
	for _, s := range r.servers {
		if _, err := netip.ParseAddrPort(s); err != nil {
			return nil, fmt.Errorf("dns server %q: want ip:port", s)
		}
	}
	if len(r.servers) == 0 {
		conf, err := dns.ClientConfigFromFile("/etc/resolv.conf")
		if err != nil {
			r.log.Warn("no DNS servers for NAPTR and SRV: names resolve through the system's A/AAAA lookups only", "error", err)
		} else {
			for _, s := range conf.Servers {
				r.servers = append(r.servers, net.JoinHostPort(s, conf.Port))
			}
		}
	}
	r.hosts = net.DefaultResolver
	if len(o.Servers) > 0 {
		r.hosts = r.NetResolver()
	}
	return r, nil
}

// NetResolver is a Go resolver that asks the configured servers (after
// /etc/hosts), for code that takes a *net.Resolver; with no configured
// servers it is the system's.
func (r *Resolver) NetResolver() *net.Resolver {
	if len(r.servers) == 0 {
		return net.DefaultResolver
	}
	servers := slices.Clone(r.servers)
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, servers[int(r.next.Add(1))%len(servers)])
	}}
}

// Resolve returns the targets for q in the order to try them (RFC 3263 §4).
// IPv4 addresses of a host come before its IPv6 ones.
func (r *Resolver) Resolve(ctx context.Context, q Query) ([]Target, error) {
	name := dns.Fqdn(strings.ToLower(q.Host))
	tp := strings.ToUpper(q.Transport)
	if q.Secure && tp != "" && tp != "TLS" {
		tp = "TLS" // sips over TCP is TLS; sips over UDP does not exist
	}
	var errs []error
	note := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	var targets []Target
	switch {
	case q.Port != 0: // §4.2: a port means A/AAAA only
		if tp == "" {
			tp = defaultTransport(q.Secure)
		}
		t, err := r.hostTargets(ctx, name, q.Port, tp, q.Host)
		note(err)
		targets = t
	case tp != "": // §4.2: a transport without a port means SRV for it
		t, err := r.srvTargets(ctx, srvName(tp, name), tp, q.Host)
		note(err)
		targets = t
	default:
		t, err := r.naptrTargets(ctx, name, q)
		note(err)
		targets = t
		for _, cand := range r.supported(q.Secure) {
			if len(targets) > 0 {
				break
			}
			t, err := r.srvTargets(ctx, srvName(cand, name), cand, q.Host)
			note(err)
			targets = append(targets, t...)
		}
		tp = defaultTransport(q.Secure)
	}
	if len(targets) == 0 && q.Port == 0 {
		t, err := r.hostTargets(ctx, name, defaultPort(tp), tp, q.Host)
		note(err)
		targets = t
	}
	if len(targets) == 0 {
		if len(errs) > 0 {
			return nil, fmt.Errorf("resolve %s: %w", q.Host, errors.Join(errs...))
		}
		return nil, fmt.Errorf("resolve %s: no such host", q.Host)
	}
	return targets, nil
}

// supported lists the transports to ask SRV for, in our order of preference.
func (r *Resolver) supported(secure bool) []string {
	if secure {
		if slices.Contains(r.transports, "TLS") {
			return []string{"TLS"}
		}
		return nil
	}
	return r.transports
}

func defaultTransport(secure bool) string {
	if secure {
		return "TLS"
	}
	return "UDP"
}

func defaultPort(transport string) int {
	if transport == "TLS" {
		return 5061
	}
	return 5060
}

func srvName(transport, name string) string {
	switch transport {
	case "TLS":
		return "_sips._tcp." + name
	case "TCP":
		return "_sip._tcp." + name
	}
	return "_sip._udp." + name
}

// naptrServices maps RFC 3263 NAPTR services to transports.
var naptrServices = map[string]string{"SIP+D2U": "UDP", "SIP+D2T": "TCP", "SIPS+D2T": "TLS"}

// naptrTargets follows the domain's NAPTR records (§4.1): those with the
// "s" flag and a service we support, by order then preference, each to its
// SRV records.
func (r *Resolver) naptrTargets(ctx context.Context, name string, q Query) ([]Target, error) {
	rrs, err := r.lookup(ctx, name, dns.TypeNAPTR)
	if err != nil || len(rrs) == 0 {
		return nil, err
	}
	var recs []*dns.NAPTR
	for _, rr := range rrs {
		n, ok := rr.(*dns.NAPTR)
		if !ok || !strings.EqualFold(n.Flags, "s") {
			continue
		}
		tp, ok := naptrServices[strings.ToUpper(n.Service)]
		if !ok || !slices.Contains(r.supported(q.Secure), tp) {
			continue
		}
		recs = append(recs, n)
	}
	slices.SortStableFunc(recs, func(a, b *dns.NAPTR) int {
		if a.Order != b.Order {
			return int(a.Order) - int(b.Order)
		}
		return int(a.Preference) - int(b.Preference)
	})
	var targets []Target
	var errs []error
	for _, n := range recs {
		tp := naptrServices[strings.ToUpper(n.Service)]
		t, err := r.srvTargets(ctx, dns.Fqdn(n.Replacement), tp, q.Host)
		if err != nil {
			errs = append(errs, err)
		}
		targets = append(targets, t...)
	}
	return targets, errors.Join(errs...)
}

// srvTargets returns the addresses of an SRV name's targets, by priority and,
// within a priority, in the weighted random order of RFC 2782.
func (r *Resolver) srvTargets(ctx context.Context, srv, transport, domain string) ([]Target, error) {
	rrs, err := r.lookup(ctx, srv, dns.TypeSRV)
	if err != nil || len(rrs) == 0 {
		return nil, err
	}
	var recs []*dns.SRV
	for _, rr := range rrs {
		if s, ok := rr.(*dns.SRV); ok && s.Target != "." { // "." : decidedly not offered
			recs = append(recs, s)
		}
	}
	var targets []Target
	var errs []error
	for _, s := range orderSRV(recs) {
		t, err := r.hostTargets(ctx, s.Target, int(s.Port), transport, domain)
		if err != nil {
			errs = append(errs, err)
		}
		targets = append(targets, t...)
	}
	return targets, errors.Join(errs...)
}

// orderSRV sorts by priority, then picks within each priority by weight:
// each pick draws among the records left with probability proportional to
// weight, zero-weight records having a small chance (RFC 2782).
func orderSRV(recs []*dns.SRV) []*dns.SRV {
	slices.SortStableFunc(recs, func(a, b *dns.SRV) int { return int(a.Priority) - int(b.Priority) })
	out := make([]*dns.SRV, 0, len(recs))
	for start := 0; start < len(recs); {
		end := start
		for end < len(recs) && recs[end].Priority == recs[start].Priority {
			end++
		}
		group := slices.Clone(recs[start:end])
		// Zero weights first, as RFC 2782 orders them before the draw.
		slices.SortStableFunc(group, func(a, b *dns.SRV) int {
			return boolInt(a.Weight != 0) - boolInt(b.Weight != 0)
		})
		for len(group) > 0 {
			total := 0
			for _, s := range group {
				total += int(s.Weight)
			}
			pick, sum := rand.IntN(total+1), 0
			i := 0
			for ; i < len(group)-1; i++ {
				sum += int(group[i].Weight)
				if sum >= pick {
					break
				}
			}
			out = append(out, group[i])
			group = slices.Delete(group, i, i+1)
		}
		start = end
	}
	return out
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// hostTargets resolves a host name to targets on port: IPv4 first.
func (r *Resolver) hostTargets(ctx context.Context, host string, port int, transport, domain string) ([]Target, error) {
	addrs, err := r.hostAddrs(ctx, host)
	targets := make([]Target, 0, len(addrs))
	for _, a := range addrs {
		targets = append(targets, Target{Transport: transport, Addr: netip.AddrPortFrom(a, uint16(port)), Name: domain})
	}
	return targets, err
}

func (r *Resolver) hostAddrs(ctx context.Context, host string) ([]netip.Addr, error) {
	var addrs []netip.Addr
	var errs []error
	for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA} {
		rrs, err := r.lookup(ctx, host, qtype)
		if err != nil {
			errs = append(errs, err)
		}
		for _, rr := range rrs {
			var ip net.IP
			switch v := rr.(type) {
			case *dns.A:
				ip = v.A
			case *dns.AAAA:
				ip = v.AAAA
			}
			if a, ok := netip.AddrFromSlice(ip); ok {
				addrs = append(addrs, a.Unmap())
			}
		}
	}
	if len(addrs) > 0 {
		return addrs, nil
	}
	// Names DNS does not know may be in /etc/hosts ("localhost").
	hosts, err := r.systemLookup(ctx, host)
	if len(hosts) > 0 {
		return hosts, nil
	}
	if err != nil {
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

func (r *Resolver) systemLookup(ctx context.Context, host string) ([]netip.Addr, error) {
	key := cacheKey{name: host}
	if e, ok := r.cached(key); ok {
		return e.addrs, nil
	}
	ips, err := r.hosts.LookupNetIP(ctx, "ip", strings.TrimSuffix(host, "."))
	var dnsErr *net.DNSError
	if err != nil && !(errors.As(err, &dnsErr) && dnsErr.IsNotFound) {
		return nil, err
	}
	addrs := make([]netip.Addr, 0, len(ips))
	for _, a := range ips {
		addrs = append(addrs, a.Unmap())
	}
	slices.SortStableFunc(addrs, func(a, b netip.Addr) int { return boolInt(!a.Is4()) - boolInt(!b.Is4()) })
	r.store(key, cacheEntry{addrs: addrs}, hostsTTL)
	return addrs, nil
}

// lookup returns the records of this type at name (nil when there are none),
// from the cache while their TTL lasts. Errors (no server answered, SERVFAIL)
// are not cached.
func (r *Resolver) lookup(ctx context.Context, name string, qtype uint16) ([]dns.RR, error) {
	key := cacheKey{name: strings.ToLower(dns.Fqdn(name)), qtype: qtype}
	if e, ok := r.cached(key); ok {
		return e.rrs, nil
	}
	if len(r.servers) == 0 {
		return nil, nil
	}
	msg := new(dns.Msg)
	msg.SetQuestion(key.name, qtype)
	msg.SetEdns0(4096, false)
	var errs []error
	for _, server := range r.servers {
		in, _, err := r.udp.ExchangeContext(ctx, msg, server)
		if err == nil && in.Truncated {
			in, _, err = r.tcp.ExchangeContext(ctx, msg, server)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", server, err))
			if ctx.Err() != nil {
				break
			}
			continue
		}
		switch in.Rcode {
		case dns.RcodeSuccess, dns.RcodeNameError:
			var rrs []dns.RR
			ttl := maxTTL
			for _, rr := range in.Answer {
				ttl = min(ttl, time.Duration(rr.Header().Ttl)*time.Second)
				if rr.Header().Rrtype == qtype {
					rrs = append(rrs, rr)
				}
			}
			if len(rrs) == 0 {
				ttl = negativeTTL(in)
			}
			r.store(key, cacheEntry{rrs: rrs}, ttl)
			return rrs, nil
		default:
			errs = append(errs, fmt.Errorf("%s: %s", server, dns.RcodeToString[in.Rcode]))
		}
	}
	return nil, fmt.Errorf("dns %s %s: %w", dns.TypeToString[qtype], key.name, errors.Join(errs...))
}

// negativeTTL is how long "no such records" may be cached (RFC 2308 §5):
// the SOA's minimum, bounded by the SOA's own TTL; without an SOA, not at all.
func negativeTTL(m *dns.Msg) time.Duration {
	for _, rr := range m.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			return time.Duration(min(soa.Hdr.Ttl, soa.Minttl)) * time.Second
		}
	}
	return 0
}

func (r *Resolver) cached(key cacheKey) (cacheEntry, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.cache[key]
	if !ok {
		return cacheEntry{}, false
	}
	if !r.now().Before(e.expires) {
		delete(r.cache, key)
		return cacheEntry{}, false
	}
	return e, true
}

func (r *Resolver) store(key cacheKey, e cacheEntry, ttl time.Duration) {
	if ttl <= 0 {
		return
	}
	now := r.now()
	e.expires = now.Add(min(ttl, maxTTL))
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.cache) >= maxCacheEntries {
		for k, old := range r.cache {
			if !now.Before(old.expires) {
				delete(r.cache, k)
			}
		}
		for k := range r.cache { // still full: make room for one
			if len(r.cache) < maxCacheEntries {
				break
			}
			delete(r.cache, k)
		}
	}
	r.cache[key] = e
}
