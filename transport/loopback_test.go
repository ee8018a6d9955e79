package transport

import (
	"net"
	"testing"
)

// loopbackUDP is a UDP socket on the loopback address of network ("udp4"
// or "udp6"), closed when the test ends; it skips the test where the
// family has no loopback.
func loopbackUDP(tb testing.TB, network string) *net.UDPConn {
	tb.Helper()
	ip := net.IPv4(127, 0, 0, 1)
	if network == "udp6" {
		ip = net.IPv6loopback
	}
	c, err := net.ListenUDP(network, &net.UDPAddr{IP: ip})
	if err != nil {
		tb.Skipf("no %s loopback: %v", network, err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}
