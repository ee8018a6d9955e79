package transport

import (
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"unsafe"
)

// udpSender writes datagrams with a raw sendto(2) on the socket's
// non-blocking descriptor. The net package's WriteTo enters the scheduler's
// syscall state for every datagram; at thousands of messages a second on
// a busy machine the runtime's monitor then hands the processor to another
// thread while the send runs (a wake-up and a futex each time), which cost
// more than the send itself (measured: docs/bench.md). A send to a UDP
// socket does not block, so it needs none of that; a full send buffer
// (EAGAIN) falls back to waiting for writability through the poller.
type udpSender struct {
	rc  syscall.RawConn
	ops sync.Pool // of *sendOp: a send allocates nothing
}

// sendOp is one sendto's arguments and result; try is bound once, so
// passing it to RawConn.Write allocates no closure.
type sendOp struct {
	b     []byte
	sa4   syscall.RawSockaddrInet4
	sa6   syscall.RawSockaddrInet6
	sa    unsafe.Pointer
	size  uintptr
	errno syscall.Errno
	try   func(fd uintptr) bool
}

func (op *sendOp) sendto(fd uintptr) bool {
	_, _, op.errno = syscall.RawSyscall6(syscall.SYS_SENDTO, fd,
		uintptr(unsafe.Pointer(&op.b[0])), uintptr(len(op.b)), 0, uintptr(op.sa), op.size)
	return op.errno != syscall.EAGAIN
}

func newUDPSender(pc net.PacketConn) *udpSender {
	c, ok := pc.(*net.UDPConn)
	if !ok {
		return nil
	}
	rc, err := c.SyscallConn()
	if err != nil {
		return nil
	}
	s := &udpSender{rc: rc}
	s.ops.New = func() any {
		op := &sendOp{}
		op.try = op.sendto
		return op
	}
	return s
}

// send writes b to to, which must be of the socket's family; handled is
// false for what it leaves to the net package (an empty datagram, an IPv6
// address with a zone).
func (s *udpSender) send(b []byte, to netip.AddrPort) (handled bool, err error) {
	if len(b) == 0 || to.Addr().Zone() != "" {
		return false, nil
	}
	op := s.ops.Get().(*sendOp)
	op.b = b
	port := to.Port()
	if a := to.Addr(); a.Is4() || a.Is4In6() {
		op.sa4 = syscall.RawSockaddrInet4{Family: syscall.AF_INET, Addr: a.Unmap().As4(),
			Port: port<<8 | port>>8} // network byte order
		op.sa, op.size = unsafe.Pointer(&op.sa4), unsafe.Sizeof(op.sa4)
	} else {
		op.sa6 = syscall.RawSockaddrInet6{Family: syscall.AF_INET6, Addr: a.As16(), Port: port<<8 | port>>8}
		op.sa, op.size = unsafe.Pointer(&op.sa6), unsafe.Sizeof(op.sa6)
	}
	err = s.rc.Write(op.try)
	if err == nil && op.errno != 0 {
		err = &net.OpError{Op: "write", Net: "udp", Addr: net.UDPAddrFromAddrPort(to), Err: os.NewSyscallError("sendto", op.errno)}
	}
	op.b, op.sa = nil, nil
	s.ops.Put(op)
	return true, err
}

// rawPacketConn is the socket as the read loop sees it: ReadFrom is a raw
// recvfrom(2), waiting on the poller only when nothing is queued, for the
// same reason as udpSender (the runtime's monitor stays asleep). Writes
// and everything else are the socket's own.
type rawPacketConn struct {
	*net.UDPConn
	rc  syscall.RawConn
	ops sync.Pool // of *recvOp
}

// recvOp is one recvfrom's arguments and result, like sendOp.
type recvOp struct {
	b     []byte
	from  syscall.RawSockaddrAny
	size  uint32
	n     uintptr
	errno syscall.Errno
	try   func(fd uintptr) bool
}

func (op *recvOp) recvfrom(fd uintptr) bool {
	op.size = uint32(unsafe.Sizeof(op.from))
	op.n, _, op.errno = syscall.RawSyscall6(syscall.SYS_RECVFROM, fd,
		uintptr(unsafe.Pointer(&op.b[0])), uintptr(len(op.b)), 0,
		uintptr(unsafe.Pointer(&op.from)), uintptr(unsafe.Pointer(&op.size)))
	return op.errno != syscall.EAGAIN
}

// rawReader wraps pc for the read loop; pc itself when it is not a UDP
// socket.
func rawReader(pc net.PacketConn) net.PacketConn {
	c, ok := pc.(*net.UDPConn)
	if !ok {
		return pc
	}
	rc, err := c.SyscallConn()
	if err != nil {
		return pc
	}
	r := &rawPacketConn{UDPConn: c, rc: rc}
	r.ops.New = func() any {
		op := &recvOp{}
		op.try = op.recvfrom
		return op
	}
	return r
}

func (c *rawPacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	if len(b) == 0 {
		return c.UDPConn.ReadFrom(b)
	}
	op := c.ops.Get().(*recvOp)
	defer func() { op.b = nil; c.ops.Put(op) }()
	op.b = b
	if err := c.rc.Read(op.try); err != nil {
		return 0, nil, err
	}
	if op.errno != 0 {
		return 0, nil, &net.OpError{Op: "read", Net: "udp", Source: c.LocalAddr(), Err: os.NewSyscallError("recvfrom", op.errno)}
	}
	var from *net.UDPAddr
	switch op.from.Addr.Family {
	case syscall.AF_INET:
		sa := (*syscall.RawSockaddrInet4)(unsafe.Pointer(&op.from))
		from = &net.UDPAddr{IP: net.IPv4(sa.Addr[0], sa.Addr[1], sa.Addr[2], sa.Addr[3]), Port: int(sa.Port<<8 | sa.Port>>8)}
	case syscall.AF_INET6:
		sa := (*syscall.RawSockaddrInet6)(unsafe.Pointer(&op.from))
		from = &net.UDPAddr{IP: append(net.IP(nil), sa.Addr[:]...), Port: int(sa.Port<<8 | sa.Port>>8)}
		if sa.Scope_id != 0 {
			if ifi, err := net.InterfaceByIndex(int(sa.Scope_id)); err == nil {
				from.Zone = ifi.Name
			}
		}
	default:
		return 0, nil, &net.OpError{Op: "read", Net: "udp", Source: c.LocalAddr(), Err: syscall.EAFNOSUPPORT}
	}
	return int(op.n), from, nil
}
