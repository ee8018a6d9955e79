package xml

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/clicktocall/clicktocall/actors"
	"github.com/clicktocall/clicktocall/config"
	"github.com/clicktocall/clicktocall/intake/calloptions"
)

// Options is what a Server needs.
type Options struct {
	Config config.XML // address, port, limits and idle timeout
	// Translate turns an initiator or destination into a SIP URI; its error
	// text becomes the 400 result ("No translation rule for ..."). nil keeps
	// the values as they are.
	Translate func(string) (string, error)
	Starter   actors.CallStarter // the engine
	// CallOptions checks the requests' per-call options; nil: the policy
	// of the default api { } settings (no caller IDs, X- headers only).
	CallOptions *calloptions.Policy
	Logger      *slog.Logger       // nil: slog.Default()
	System      *actor.ActorSystem // the process's actor system; nil: a new one
	// MaxQueuedOutput caps the response bytes waiting for a client that does
	// not read; past it the connection is closed. 0: 4 MiB, and at least 16
	// requests' worth of MaxRequestSize.
	MaxQueuedOutput int
	// TLS, when set, makes the listener speak TLS only (config.XML.ServerTLS);
	// nil is plain TCP.
	TLS *tls.Config
	// TLSHandshakeTimeout bounds a client's TLS handshake; a client that has
	// not finished it by then is disconnected. 0: DefaultTLSHandshakeTimeout.
	TLSHandshakeTimeout time.Duration
}

// Timings that are not worth a setting.
const (
	writeTimeout = 10 * time.Second       // one write to a client that stopped reading
	lingerTime   = 500 * time.Millisecond // reading what a client still sends after we answered and half-closed
	forceGrace   = 500 * time.Millisecond // writing the last finals when Shutdown's context ends
)

// Server is the XML-over-TCP front end.
type Server struct {
	opts     Options
	log      *slog.Logger
	root     *actor.RootContext
	mu       sync.Mutex
	ln       net.Listener
	listener *actor.PID    // the listener actor
	accepted chan struct{} // closed when the accept loop has returned
	drained  chan struct{} // closed by the listener actor when draining and no connection is left
	once     sync.Once     // Shutdown
	closeErr error         // from Shutdown
	started  bool
}

// New returns a server that is not listening yet.
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.System == nil {
		opts.System = actor.NewActorSystem()
	}
	if opts.Translate == nil {
		opts.Translate = func(s string) (string, error) { return s, nil }
	}
	if opts.CallOptions == nil {
		opts.CallOptions = calloptions.Default()
	}
	opts.Config.MaxRequestSize = config.OrDefault(opts.Config.MaxRequestSize, DefaultMaxRequestSize)
	opts.TLSHandshakeTimeout = config.OrDefault(opts.TLSHandshakeTimeout, DefaultTLSHandshakeTimeout)
	opts.MaxQueuedOutput = config.OrDefault(opts.MaxQueuedOutput, max(4<<20, 16*opts.Config.MaxRequestSize))
	return &Server{
		opts:     opts,
		log:      opts.Logger.With("frontend", "xml"),
		root:     opts.System.Root,
		accepted: make(chan struct{}),
		drained:  make(chan struct{}),
	}
}

// Start listens on Config.Address:Config.Port over TCP and serves in the
// background. An empty address listens on all interfaces, IPv4 and IPv6;
// port 0 picks a free port (serve does not start the server when xml.port
// is 0).
func (s *Server) Start() error {
	addr := net.JoinHostPort(s.opts.Config.Address, strconv.Itoa(s.opts.Config.Port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("xml: listen on %s: %w", addr, err)
	}
	if err := s.StartListener(ln); err != nil {
		ln.Close()
		return err
	}
	return nil
}

// StartListener serves connections accepted from ln in the background (over
// TLS when Options.TLS is set); the server owns ln from now on.
func (s *Server) StartListener(ln net.Listener) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("xml: server already started")
	}
	s.started = true
	if s.opts.TLS != nil {
		ln = tlsListener{Listener: ln, config: s.opts.TLS, timeout: s.opts.TLSHandshakeTimeout}
	}
	s.ln = ln
	s.listener = s.root.Spawn(actor.PropsFromProducer(
		func() actor.Actor { return newListenerActor(s) },
		actor.WithSupervisor(stopOnPanic),
	))
	go s.acceptLoop()
	s.log.Debug("XML interface listening", "address", ln.Addr().String(), "tls", s.opts.TLS != nil)
	return nil
}

// stopOnPanic is the listener's strategy for its connection actors: a
// connection actor that panicked has lost its state, so it is stopped (which
// closes its connection) rather than restarted.
var stopOnPanic = actor.NewOneForOneStrategy(0, 0, func(reason any) actor.Directive {
	return actor.StopDirective
})

// Addr is the address the server listens on, nil before Start.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

func (s *Server) acceptLoop() {
	defer close(s.accepted)
	var backoff time.Duration
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait instead of spinning.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("XML accept failed", "err", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		s.root.Send(s.listener, acceptedConn{c})
	}
}

// Shutdown stops accepting connections, answers new requests with 503, and
// waits for the calls in progress to deliver their finals; each connection
// is closed once it has no call left. When ctx ends first, the calls still
// open get a final 503 "Server shutting down", the connections are closed and
// ctx's error is returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	started := s.started
	s.mu.Unlock()
	if !started {
		return nil
	}
	s.once.Do(func() {
		s.ln.Close()
		<-s.accepted // so no connection reaches the listener actor after drain
		s.root.Send(s.listener, drainConns{})
		select {
		case <-s.drained:
		case <-ctx.Done():
			s.closeErr = ctx.Err()
			s.root.Send(s.listener, forceCloseConns{})
			select {
			case <-s.drained:
			case <-time.After(forceGrace + lingerTime + time.Second):
				s.log.Error("XML connections still open after forced close")
			}
		}
		_ = s.root.StopFuture(s.listener).Wait()
		s.log.Info("XML interface stopped")
	})
	return s.closeErr
}
