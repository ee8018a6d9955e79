package transport_test

import (
	"github.com/clicktocall/clicktocall/internal/testpki"
	"net/netip"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"

	"github.com/clicktocall/clicktocall/transport"
)

// With ip_address = "" the server listens on IPv4 and IPv6 and reaches each
// phone in its own family: Via and Contact carry an address of that family,
// and UDP requests leave from the listening port.
func TestDualStackReachesEachPhoneInItsFamily(t *testing.T) {
	tr := newTransport(t, transport.Options{IPAddress: ""})
	eng := newEngine(t, tr)
	for _, tc := range []struct {
		name             string
		initHost, initTp string
		destHost, destTp string
	}{
		{"udp IPv4 initiator, IPv6 destination", "127.0.0.1", "udp", "::1", "udp"},
		{"tcp IPv6 initiator, IPv4 destination", "::1", "tcp", "127.0.0.1", "tcp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			init := newPhone(t, "alice", tc.initHost, tc.initTp)
			dest := newPhone(t, "bob", tc.destHost, tc.destTp)
			if got := placeCall(t, eng, uri(init, tc.initTp), uri(dest, tc.destTp)); got != "100, 200 I, 200 D" {
				t.Fatalf("results = %q, want 100, 200 I, 200 D", got)
			}
			checkInviteFamily(t, tr, receivedInvite(t, init), tc.initHost, tc.initTp)
			checkInviteFamily(t, tr, receivedInvite(t, dest), tc.destHost, tc.destTp)
		})
	}
}

func checkInviteFamily(t *testing.T, tr *transport.Transport, inv *sip.Request, phoneHost, tp string) {
	t.Helper()
	want6 := netip.MustParseAddr(phoneHost).Is6()
	via := inv.Via()
	if via == nil || !strings.EqualFold(via.Transport, tp) || hostAddr(t, via.Host).Is6() != want6 || via.Port != tr.Port() {
		t.Errorf("INVITE to %s over %s: Via %v, want %s and the server's %s address, port %d", phoneHost, tp, via, strings.ToUpper(tp), family(want6), tr.Port())
	}
	c := inv.Contact()
	if c == nil || hostAddr(t, c.Address.Host).Is6() != want6 || c.Address.Port != tr.Port() {
		t.Errorf("INVITE to %s: Contact %v, want the server's %s address, port %d", phoneHost, c, family(want6), tr.Port())
	}
	if p, _ := c.Address.UriParams.Get("transport"); tp == "tcp" && p != "tcp" {
		t.Errorf("INVITE over TCP: Contact %v has no transport=tcp", c)
	}
	if tp == "udp" {
		src := netip.MustParseAddrPort(inv.Source())
		if int(src.Port()) != tr.Port() {
			t.Errorf("INVITE over UDP came from %s, want the listening port %d", src, tr.Port())
		}
	}
}

func family(v6 bool) string {
	if v6 {
		return "IPv6"
	}
	return "IPv4"
}

// A server bound to an IPv6 address calls sip:user@[::1]:port, and refuses
// an IPv4 target it has no socket for with a transport error (503).
func TestIPv6AddressServesIPv6Only(t *testing.T) {
	tr := newTransport(t, transport.Options{IPAddress: "::1"})
	if tr.Host() != "::1" {
		t.Fatalf("Host() = %q, want ::1", tr.Host())
	}
	eng := newEngine(t, tr)
	init := newPhone(t, "alice", "::1", "udp")
	dest := newPhone(t, "bob", "::1", "udp")
	if u := uri(dest, "udp"); !strings.HasPrefix(u, "sip:bob@[::1]:") {
		t.Fatalf("phone URI %s", u)
	}
	if got := placeCall(t, eng, uri(init, "udp"), uri(dest, "udp")); got != "100, 200 I, 200 D" {
		t.Fatalf("results = %q, want 100, 200 I, 200 D", got)
	}
	inv := receivedInvite(t, dest)
	if h := inv.Via().Host; hostAddr(t, h) != netip.MustParseAddr("::1") {
		t.Errorf("Via host %q, want [::1]", h)
	}
	// By REFER: the initiator's NOTIFYs come back to our IPv6 Contact.
	if got := runCall(t, eng, uri(init, "udp"), uri(dest, "udp"), false); got != "100, 200 I, 200 D" {
		t.Fatalf("REFER call: results = %q, want 100, 200 I, 200 D", got)
	}
	v4 := newPhone(t, "carol", "127.0.0.1", "udp")
	if got := placeCall(t, eng, uri(v4, "udp"), uri(dest, "udp")); got != "100, 503 I" {
		t.Fatalf("call to an IPv4 phone from an IPv6-only server: results = %q, want 100, 503 I", got)
	}
}

// ContactFor answers a request in its own family and transport; HostFor
// gives the address of a target's family (for SDP).
func TestContactForAndHostForFollowTheFamily(t *testing.T) {
	ca := testpki.NewCA(t)
	tr := tlsTransport(t, ca, transport.Options{IPAddress: ""})
	for _, tc := range []struct {
		source, transport, recipient string
		want6                        bool
		scheme, param                string
		port                         int
	}{
		{"127.0.0.1:5000", "UDP", "sip:clicktocall@127.0.0.1", false, "sip", "", tr.Port()},
		{"[::1]:5000", "TCP", "sip:clicktocall@[::1]", true, "sip", "tcp", tr.Port()},
		{"[::1]:5001", "TLS", "sips:clicktocall@[::1]", true, "sips", "", tr.TLSPort()},
		{"127.0.0.1:5001", "TLS", "sip:clicktocall@127.0.0.1;transport=tls", false, "sip", "tls", tr.TLSPort()},
	} {
		var ruri sip.Uri
		if err := sip.ParseUri(tc.recipient, &ruri); err != nil {
			t.Fatal(err)
		}
		req := sip.NewRequest(sip.INVITE, ruri)
		req.SetSource(tc.source)
		req.SetTransport(tc.transport)
		c := tr.ContactFor(req)
		param, _ := c.Address.UriParams.Get("transport")
		if hostAddr(t, c.Address.Host).Is6() != tc.want6 || c.Address.Scheme != tc.scheme || param != tc.param || c.Address.Port != tc.port {
			t.Errorf("ContactFor(%s from %s over %s) = %s", tc.recipient, tc.source, tc.transport, c.Address.String())
		}
	}
	if h := tr.HostFor(sip.Uri{Host: "[::1]"}); !hostAddr(t, h).Is6() {
		t.Errorf("HostFor([::1]) = %s", h)
	}
	if h := tr.HostFor(sip.Uri{Host: "127.0.0.1"}); h != tr.Host() || hostAddr(t, h).Is6() {
		t.Errorf("HostFor(127.0.0.1) = %s, Host() = %s", h, tr.Host())
	}
}
