package httpfront

import (
	"fmt"
	"net"
)

// Listen binds the configured address and port without serving yet, so
// the caller learns at once whether the port is free, and which it is
// (port 0); Serve(ln) then serves it.
func (s *Server) Listen() (net.Listener, error) {
	ln, err := net.Listen("tcp", s.address)
	if err != nil {
		return nil, fmt.Errorf("http listen on %s: %w", s.address, err)
	}
	return ln, nil
}
