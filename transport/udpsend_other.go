//go:build !linux

package transport

import (
	"net"
	"net/netip"
)

// udpSender is Linux-only (udpsend_linux.go); elsewhere writes go through
// the net package.
type udpSender struct{}

func newUDPSender(net.PacketConn) *udpSender { return nil }

func (*udpSender) send([]byte, netip.AddrPort) (bool, error) { return false, nil }

func rawReader(pc net.PacketConn) net.PacketConn { return pc }
