package transport

import (
	"net"
	"net/netip"
	"os"
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
	rc syscall.RawConn
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
	return &udpSender{rc: rc}
}

// send writes b to to, which must be of the socket's family; handled is
// false for what it leaves to the net package (an empty datagram, an IPv6
// address with a zone).
func (s *udpSender) send(b []byte, to netip.AddrPort) (handled bool, err error) {
	if len(b) == 0 || to.Addr().Zone() != "" {
		return false, nil
	}
	var (
		sa4  syscall.RawSockaddrInet4
		sa6  syscall.RawSockaddrInet6
		sa   unsafe.Pointer
		size uintptr
	)
	port := to.Port()
	if a := to.Addr(); a.Is4() || a.Is4In6() {
		sa4.Family = syscall.AF_INET
		sa4.Addr = a.Unmap().As4()
		sa4.Port = port<<8 | port>>8 // network byte order
		sa, size = unsafe.Pointer(&sa4), unsafe.Sizeof(sa4)
	} else {
		sa6.Family = syscall.AF_INET6
		sa6.Addr = a.As16()
		sa6.Port = port<<8 | port>>8
		sa, size = unsafe.Pointer(&sa6), unsafe.Sizeof(sa6)
	}
	var errno syscall.Errno
	err = s.rc.Write(func(fd uintptr) bool {
		_, _, errno = syscall.RawSyscall6(syscall.SYS_SENDTO, fd,
			uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), 0, uintptr(sa), size)
		return errno != syscall.EAGAIN
	})
	if err == nil && errno != 0 {
		err = &net.OpError{Op: "write", Net: "udp", Addr: net.UDPAddrFromAddrPort(to), Err: os.NewSyscallError("sendto", errno)}
	}
	return true, err
}
