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
