package transport

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/clicktocall/clicktocall/transport/locate"
)

// resolveTimeout bounds the DNS work of one Write (an ACK to a name).
const resolveTimeout = 10 * time.Second

// hop is where a request goes first: a target known without DNS, or the
// query that finds it.
type hop struct {
	target *locate.Target
	query  locate.Query
}

func nextHop(req *sip.Request) (hop, error) {
	u := req.Recipient
	if r := req.Route(); r != nil {
		u = r.Address
	}
	secure := isSIPS(u)
	tp := strings.ToUpper(req.MessageData.Transport())
	if tp == "" && u.UriParams != nil {
		if v, ok := u.UriParams.Get("transport"); ok {
			tp = strings.ToUpper(v)
		}
	}
	if secure && tp != "" {
		tp = "TLS" // sips over TCP is TLS; sips over UDP does not exist
	}
	switch tp {
	case "", "UDP", "TCP", "TLS":
	default:
		return hop{}, fmt.Errorf("send %s to %s: transport %q is not supported", req.Method, u.String(), tp)
	}
	host := trimBrackets(u.Host)
	known := func(a netip.AddrPort) (hop, error) {
		if tp == "" {
			tp = "UDP"
			if secure {
				tp = "TLS"
			}
		}
		if a.Port() == 0 {
			a = netip.AddrPortFrom(a.Addr(), uint16(sip.DefaultPort(tp)))
		}
		return hop{target: &locate.Target{Transport: tp, Addr: netip.AddrPortFrom(a.Addr().Unmap(), a.Port()), Name: host}}, nil
	}
	if dest, err := netip.ParseAddrPort(req.MessageData.Destination()); err == nil {
		return known(dest)
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return known(netip.AddrPortFrom(a, uint16(u.Port)))
	}
	return hop{query: locate.Query{Host: host, Port: u.Port, Transport: tp, Secure: secure}}, nil
}

func isSIPS(u sip.Uri) bool { return strings.EqualFold(u.Scheme, "sips") }

// resolve finds the targets of q that this transport can send to.
func (t *Transport) resolve(ctx context.Context, q locate.Query) ([]locate.Target, error) {
	all, err := t.resolver.Resolve(ctx, q)
	if err != nil {
		return nil, err
	}
	var usable []locate.Target
	for _, tg := range all {
		if s := t.stacks[familyOf(tg.Addr.Addr())]; s != nil && (tg.Transport != "TLS" || s.tls != nil) {
			usable = append(usable, tg)
		}
	}
	if len(usable) == 0 {
		return nil, fmt.Errorf("resolve %s: no target this server can reach (%v)", q.Host, all)
	}
	return usable, nil
}

// prepare addresses req to target and returns the stack it leaves from.
func (t *Transport) prepare(req *sip.Request, tg locate.Target) (*stack, error) {
	fam := familyOf(tg.Addr.Addr())
	s := t.stacks[fam]
	if s == nil {
		return nil, fmt.Errorf("send %s to %s: the server has no %s sockets (sip.ip_address)", req.Method, tg, fam)
	}
	if tg.Transport == "TLS" && s.tls == nil {
		return nil, fmt.Errorf("send %s to %s: SIP over TLS is off (sip.tls_port = 0)", req.Method, tg)
	}
	req.SetTransport(tg.Transport)
	req.SetDestination(tg.Addr.String())
	if ct := req.Contact(); ct != nil && ct.Address.User == contactUser && t.ourHost(ct.Address.Host) {
		scheme := "sip"
		if isSIPS(req.Recipient) || (req.Route() != nil && isSIPS(req.Route().Address)) {
			scheme = "sips" // RFC 3261 §8.1.1.8
		}
		t.setContactAddress(&ct.Address, scheme, tg.Transport, s)
	}
	return s, nil
}

// connect makes sure a TCP or TLS target has a connection.
func (t *Transport) connect(ctx context.Context, tg locate.Target) error {
	if tg.Transport == "UDP" {
		return nil
	}
	return t.conns.ensure(ctx, tg)
}
