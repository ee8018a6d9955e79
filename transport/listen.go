package transport

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"time"
)

// family is an IP address family the transport may have sockets for.
type family int

const (
	ipv4 family = iota
	ipv6
	numFamilies
)

func (f family) String() string {
	if f == ipv4 {
		return "IPv4"
	}
	return "IPv6"
}

func familyOf(a netip.Addr) family {
	if a.Unmap().Is4() {
		return ipv4
	}
	return ipv6
}

// stack is one address family's sockets and the address it advertises in
// Via and Contact.
type stack struct {
	fam     family
	bind    netip.Addr // bound address: the configured one or the wildcard
	host    string     // advertised in Via and Contact, never a wildcard
	tlsHost string     // advertised for TLS: sip.tls_domain, else host
	udp     net.PacketConn
	sender  *udpSender // nil: writes go through the net package
	tcp     net.Listener
	tls     net.Listener // the raw TCP listener under TLS; nil without TLS
}

// bindPlan is what IPAddress asks for: "" is both families on their
// wildcards (IPv6 optional, for hosts without it); an address is its family only.
func bindPlan(ipAddress string) (binds []netip.Addr, optional []bool, err error) {
	if ipAddress == "" {
		return []netip.Addr{netip.IPv4Unspecified(), netip.IPv6Unspecified()}, []bool{false, true}, nil
	}
	a, err := netip.ParseAddr(trimBrackets(ipAddress))
	if err != nil {
		return nil, nil, fmt.Errorf("sip ip_address %q is not an IP address", ipAddress)
	}
	return []netip.Addr{a.Unmap()}, []bool{false}, nil
}

func trimBrackets(s string) string {
	if len(s) > 1 && s[0] == '[' && s[len(s)-1] == ']' {
		return s[1 : len(s)-1]
	}
	return s
}

func network(base string, f family) string {
	if f == ipv4 {
		return base + "4"
	}
	return base + "6" // IPV6_V6ONLY: the IPv4 socket has the IPv4 traffic
}

// listen binds every family's UDP and TCP sockets on one port (and the TLS
// listeners on another); with port 0 it retries when a port the kernel gave
// one socket is taken for another.
func (t *Transport) listen() error {
	binds, optional, err := bindPlan(t.opts.IPAddress)
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		stacks, port, tlsPort, err := t.bindAll(binds, optional)
		if err == nil {
			t.stacks, t.port, t.tlsPort = stacks, port, tlsPort
			return nil
		}
		picked := t.opts.Port == 0 || (t.opts.TLS != nil && t.opts.TLS.Port == 0)
		if !picked || !errors.Is(err, syscall.EADDRINUSE) || attempt >= 10 {
			return err
		}
	}
}

func (t *Transport) bindAll(binds []netip.Addr, optional []bool) (stacks [numFamilies]*stack, port, tlsPort int, err error) {
	port = t.opts.Port
	if t.opts.TLS != nil {
		tlsPort = t.opts.TLS.Port
	}
	closeAll := func() {
		for _, s := range stacks {
			if s != nil {
				s.close()
			}
		}
	}
	for i, bind := range binds {
		s := &stack{fam: familyOf(bind), bind: bind}
		err = s.open(port, tlsPort, t.opts.TLS != nil)
		if err != nil {
			if optional[i] && !errors.Is(err, syscall.EADDRINUSE) {
				t.log.Warn("sip: no "+s.fam.String()+" sockets", "error", err)
				err = nil
				continue
			}
			closeAll()
			return stacks, 0, 0, err
		}
		port = s.udp.LocalAddr().(*net.UDPAddr).Port
		if s.tls != nil {
			tlsPort = s.tls.Addr().(*net.TCPAddr).Port
		}
		stacks[s.fam] = s
	}
	return stacks, port, tlsPort, nil
}

func (s *stack) open(port, tlsPort int, withTLS bool) error {
	addr := func(p int) string { return net.JoinHostPort(s.bind.String(), strconv.Itoa(p)) }
	pc, err := net.ListenPacket(network("udp", s.fam), addr(port))
	if err != nil {
		return fmt.Errorf("sip udp listen: %w", err)
	}
	s.udp = pc
	s.sender = newUDPSender(pc)
	if uc, ok := pc.(*net.UDPConn); ok {
		// Bursts of calls arrive faster than one read loop drains them.
		_ = uc.SetReadBuffer(8 << 20)
	}
	port = pc.LocalAddr().(*net.UDPAddr).Port
	if s.tcp, err = net.Listen(network("tcp", s.fam), addr(port)); err != nil {
		s.close()
		return fmt.Errorf("sip tcp listen: %w", err)
	}
	s.tcp = steadyListener{Listener: s.tcp}
	if withTLS {
		if s.tls, err = net.Listen(network("tcp", s.fam), addr(tlsPort)); err != nil {
			s.close()
			return fmt.Errorf("sip tls listen: %w", err)
		}
		s.tls = steadyListener{Listener: s.tls}
	}
	return nil
}

// steadyListener keeps accepting through errors such as EMFILE during a
// connection flood: sipgo's Serve returns on the first Accept error, which
// would end SIP over TCP or TLS for good while the server looks alive.
type steadyListener struct {
	net.Listener
}

// acceptRetryMax caps the pause between retries of a failing Accept.
const acceptRetryMax = time.Second

func (l steadyListener) Accept() (net.Conn, error) {
	delay := 5 * time.Millisecond
	for {
		c, err := l.Listener.Accept()
		if err == nil || errors.Is(err, net.ErrClosed) {
			return c, err
		}
		time.Sleep(delay)
		delay = min(2*delay, acceptRetryMax)
	}
}

func (s *stack) close() {
	if s.udp != nil {
		s.udp.Close()
	}
	if s.tcp != nil {
		s.tcp.Close()
	}
	if s.tls != nil {
		s.tls.Close()
	}
}

// advertise sets the address each stack puts in Via and Contact: the bound
// address, or for a wildcard the local address the default route would use.
func (s *stack) advertise(tlsDomain string) {
	s.host = s.bind.String()
	if s.bind.IsUnspecified() {
		probe, fallback := "192.0.2.1", "127.0.0.1" // documentation prefixes: no packet is sent
		if s.fam == ipv6 {
			probe, fallback = "2001:db8::1", "::1"
		}
		s.host = routeSource(network("udp", s.fam), probe, fallback)
	}
	s.tlsHost = s.host
	if tlsDomain != "" {
		s.tlsHost = tlsDomain
	}
}

// routeSource is the local address the kernel picks to reach probe.
func routeSource(network, probe, fallback string) string {
	conn, err := net.Dial(network, net.JoinHostPort(probe, "9"))
	if err != nil {
		return fallback
	}
	defer conn.Close()
	if a, ok := conn.LocalAddr().(*net.UDPAddr); ok && !a.IP.IsUnspecified() {
		return a.IP.String()
	}
	return fallback
}

// uriHost writes a host for a URI: IPv6 literals in brackets.
func uriHost(host string) string {
	if a, err := netip.ParseAddr(host); err == nil && a.Is6() && !a.Is4In6() {
		return "[" + host + "]"
	}
	return host
}
