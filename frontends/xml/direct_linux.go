package xml

import (
	"net"
	"syscall"
	"unsafe"
)

// directWriter writes to a plain TCP connection with a raw, non-blocking
// send(2), for the goroutine that has a result in hand: the actor of the
// call, usually run by the SIP read loop. It returns what the socket took
// (0 when its buffer is full, or on an error, which the writer goroutine
// then meets itself). Waking the writer goroutine for each result cost
// more than the write (context switches per call, docs/bench.md). nil for
// TLS and anything else.
func directWriter(c net.Conn) func([]byte) int {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	w := &directWrite{rc: rc}
	w.try = w.send
	return w.write
}

// directWrite holds one write's arguments; push calls it under the
// outbox's lock, so one at a time.
type directWrite struct {
	rc  syscall.RawConn
	b   []byte
	n   int
	try func(fd uintptr) bool
}

func (w *directWrite) send(fd uintptr) bool {
	n, _, errno := syscall.RawSyscall6(syscall.SYS_SENDTO, fd, uintptr(unsafe.Pointer(&w.b[0])), uintptr(len(w.b)),
		syscall.MSG_DONTWAIT|syscall.MSG_NOSIGNAL, 0, 0)
	if errno == 0 {
		w.n = int(n)
	}
	return true // never wait: what is left goes to the writer
}

func (w *directWrite) write(b []byte) int {
	if len(b) == 0 {
		return 0
	}
	w.b, w.n = b, 0
	if err := w.rc.Write(w.try); err != nil {
		w.n = 0
	}
	w.b = nil
	return w.n
}
