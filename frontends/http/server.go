// Package httpfront is the HTTP front end of clicktocall, a fasthttp server.
//
// /clicktocall.html (GET query or POST form with initiator, destination and
// anchor) translates the two addresses, asks the engine to start the call
// and answers with a short HTML page — 200 with the call id, or
// 400/401/404/405/429/503 naming the problem; it reports no progress.
//
// The JSON API under /api/v1 places calls (with request_id idempotency and
// signed status callbacks), reads them from the call journal, streams their
// results as server-sent events and cancels them; /api/v1/openapi.json
// describes every route. / is a page that places a call and shows its
// progress live, lists active calls and cancels them. /metrics, /healthz and
// /readyz are for operators.
//
// When configured, the admin user is authenticated with HTTP Digest (RFC
// 7616, SHA-256 and MD5) or Basic on every path but the health checks.
package httpfront

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"github.com/clicktocall/clicktocall/actors"
	"github.com/clicktocall/clicktocall/cluster"
	"github.com/clicktocall/clicktocall/config"
	"github.com/clicktocall/clicktocall/frontends/http/webhook"
	"github.com/clicktocall/clicktocall/intake"
	"github.com/clicktocall/clicktocall/intake/calloptions"
	"github.com/clicktocall/clicktocall/observe/cdr"
	"github.com/clicktocall/clicktocall/observe/metrics"
	"github.com/clicktocall/clicktocall/observe/siptrace"
)

// Defaults for settings a hand-built config.HTTP leaves at zero: the
// settings table's (config/table.go), so a default is written once.
var (
	DefaultReadTimeout    = config.Default().HTTP.ReadTimeout
	DefaultIdleTimeout    = config.Default().HTTP.IdleTimeout
	DefaultNonceLifetime  = config.Default().HTTP.NonceLifetime
	DefaultMaxRequestSize = config.Default().HTTP.MaxRequestSize
)

// minReadBuffer keeps the request line and usual headers readable even
// when max_request_size is set very small.
const minReadBuffer = 1024

// ErrServerClosed is returned by Serve and ListenAndServe after Shutdown.
var ErrServerClosed = errors.New("httpfront: server closed")

// Options configures a Server.
type Options struct {
	// HTTP is the http { } block of the configuration. Port 0 is not
	// special here: the caller decides whether to start the server at all;
	// ListenAndServe with port 0 binds an ephemeral port.
	HTTP config.HTTP
	// Translate turns an address as typed into a SIP URI; its error text is
	// shown to the client (e.g. "No translation rule for 123").
	Translate func(string) (string, error)
	// Calls starts the calls.
	Calls actors.CallStarter
	// Logger receives the access log (DEBUG) and problems (WARN). nil
	// discards.
	Logger *slog.Logger

	// Records is the call journal, which must also be the engine's
	// Observer: the JSON API reads, lists and watches calls in it. nil turns
	// the JSON API off (503).
	Records *cdr.Journal
	// Cancel ends a call by id (Engine.Cancel), for DELETE; nil answers 501.
	Cancel func(id string) bool
	// API is the api { } block: status callbacks, idempotency, heartbeats.
	API config.API
	// CallOptions checks the requests' per-call options; nil takes the
	// policy of API.
	CallOptions *calloptions.Policy
	// Metrics serves GET /metrics (metrics.Metrics.Handler); nil answers 404.
	Metrics http.Handler
	// Rejections counts the requests refused before they reach the engine
	// (a *metrics.Metrics); nil counts nothing. Calls is expected to count
	// the rest (metrics.Metrics.Starter).
	Rejections Rejections
	// Ready reports whether the engine accepts calls, for /readyz; nil
	// means ready until Shutdown.
	Ready func() bool
	// CallbackOutcome is told the outcome of each status callback delivery
	// (metrics.Metrics.StatusCallback); nil: nobody.
	CallbackOutcome func(outcome string)
	// Stats feeds the console's live charts (/api/v1/stats/events); nil
	// answers 503 there.
	Stats *metrics.Live
	// Traces are the calls' SIP message summaries, for their ladders
	// (/api/v1/calls/{id}/trace); nil traces nothing.
	Traces *siptrace.Ring
	// Peers are the other nodes of a cluster (*cluster.Node); nil: this
	// node is alone.
	Peers Peers
	// TLS, when set, makes the server speak HTTPS only on its port
	// (config.HTTP.ServerTLS); nil serves plain HTTP. The handshake is bound
	// by read_timeout, like the first request.
	TLS *tls.Config
}

// Peers are the other nodes of a cluster, as the front end uses them: a call
// this node does not run is read, cancelled and followed through the node
// that runs it, and request_ids are claimed cluster-wide.
type Peers interface {
	// Call answers GET or DELETE for a call this node does not run.
	Call(id, method string) cluster.Answer
	// Watch follows the results of such a call.
	Watch(id string) (*cluster.RemoteWatch, cluster.Answer)
	// Claim claims a request_id; cluster.ErrUnavailable when the cluster
	// cannot be asked. A won claim is then Completed or Released.
	Claim(requestID, fingerprint string) (cluster.ClaimStatus, []byte, error)
	Complete(requestID string, created []byte)
	Release(requestID string)
	// Status is a line about the membership, for /readyz.
	Status() string
}

// Rejections counts requests refused by a front end, by ending.
type Rejections interface {
	Rejected(iface string, e actors.Ending)
}

// Server is the HTTP front end. Create it with New.
type Server struct {
	intake   intake.Intake
	calls    actors.CallStarter
	log      *slog.Logger
	auth     authenticator // nil when authentication is off
	address  string        // host:port to listen on
	fast     *fasthttp.Server
	maxConns [2]int      // http.max_connections and max_connections_per_ip, enforced by connLimiter
	tls      *tls.Config // nil: plain HTTP

	records     *cdr.Journal
	cancel      func(string) bool
	api         config.API
	metricsFast fasthttp.RequestHandler // nil: no /metrics
	metricsAuth bool
	rejections  Rejections
	ready       func() bool
	notifier    *webhook.Notifier // nil: status callbacks refused
	requestIDs  *requestIDs
	stopping    chan struct{} // closed by Shutdown: event streams end
	stats       *metrics.Live
	traces      *siptrace.Ring
	peers       Peers // nil: alone
	refusals    *refusalLog

	mu        sync.Mutex
	listeners []net.Listener
	closed    bool
}

// New builds a Server from the options; it does not listen yet.
func New(opts Options) *Server {
	h := opts.HTTP
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "http")
	api := opts.API
	s := &Server{
		intake:      intake.Intake{Translate: opts.Translate},
		calls:       opts.Calls,
		log:         logger,
		address:     listenAddress(h.Address, h.Port),
		records:     opts.Records,
		cancel:      opts.Cancel,
		api:         api,
		metricsAuth: api.MetricsAuth,
		rejections:  opts.Rejections,
		ready:       opts.Ready,
		tls:         opts.TLS,
		requestIDs:  newRequestIDs(api.IdempotencyWindow, api.MaxRequestIDs),
		stopping:    make(chan struct{}),
		stats:       opts.Stats,
		traces:      opts.Traces,
		peers:       opts.Peers,
		refusals:    newRefusalLog(),
	}
	if s.intake.Options = opts.CallOptions; s.intake.Options == nil {
		p, err := calloptions.NewPolicy(api)
		if err != nil {
			// Settings built by hand: no caller ID is allowed.
			logger.Error("per-call options", "err", err)
			api.CallerIDs = nil
			p, _ = calloptions.NewPolicy(api)
		}
		s.intake.Options = p
	}
	if opts.Metrics != nil {
		s.metricsFast = fasthttpadaptor.NewFastHTTPHandler(opts.Metrics)
	}
	if api.StatusCallbackSecret != "" {
		s.notifier = webhook.New(webhook.Options{
			Secret:     api.StatusCallbackSecret,
			Timeout:    api.StatusCallbackTimeout,
			Attempts:   api.StatusCallbackAttempts,
			MaxPending: api.StatusCallbackMaxPending,
			Count:      opts.CallbackOutcome,
			Logger:     logger,
		})
	}
	if h.Auth {
		if h.Password == "" {
			logger.Warn("http authentication is on with an empty password")
		}
		if strings.EqualFold(h.AuthScheme, config.AuthSchemeBasic) {
			s.auth = basicAuth{password: h.Password}
		} else {
			s.auth = newDigestAuth(h.Password, config.OrDefault(h.NonceLifetime, DefaultNonceLifetime))
		}
	}
	maxRequest := config.OrDefault(h.MaxRequestSize, DefaultMaxRequestSize)
	s.maxConns = [2]int{h.MaxConns, h.MaxConnsPerIP}
	s.fast = &fasthttp.Server{
		Handler:      s.handle,
		ErrorHandler: s.handleProtocolError,
		Logger:       fastLogger{logger},
		// Connection limits are connLimiter's (Serve), which answers with
		// Retry-After; fasthttp's own stay at their defaults.
		ReadTimeout:        config.OrDefault(h.ReadTimeout, DefaultReadTimeout),
		IdleTimeout:        config.OrDefault(h.IdleTimeout, DefaultIdleTimeout),
		ReadBufferSize:     max(maxRequest, minReadBuffer), // headers beyond it get 431
		MaxRequestBodySize: maxRequest,                     // larger bodies get 413
		// No WriteTimeout: fasthttp applies it to a whole response, which
		// would cut a future server-sent-events stream.
		CloseOnShutdown:       true,
		NoDefaultServerHeader: true,
	}
	return s
}

// listenAddress joins a bind address and port; "" means all interfaces,
// IPv4 and IPv6. Brackets around an IPv6 address are optional.
func listenAddress(address string, port int) string {
	address = strings.TrimSuffix(strings.TrimPrefix(address, "["), "]")
	return net.JoinHostPort(address, strconv.Itoa(port))
}

// ListenAndServe listens on the configured address and port and serves until
// Shutdown, when it returns ErrServerClosed.
func (s *Server) ListenAndServe() error {
	ln, err := net.Listen("tcp", s.address)
	if err != nil {
		return fmt.Errorf("http listen on %s: %w", s.address, err)
	}
	return s.Serve(ln)
}

// Serve serves connections from ln until Shutdown, when it returns
// ErrServerClosed. Serve closes ln.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = ln.Close()
		return ErrServerClosed
	}
	s.listeners = append(s.listeners, ln)
	s.mu.Unlock()
	s.log.Info("http listening", "address", ln.Addr().String(), "tls", s.tls != nil)
	// TLS goes inside the limiter, so that a connection counts from accept
	// and a handshake that never ends holds its place no longer than
	// fasthttp's read deadline on the first request.
	limited := newConnLimiter(ln, s.maxConns[0], s.maxConns[1], s.log)
	var served net.Listener = limited
	if s.tls != nil {
		limited.tls = s.tls
		served = tls.NewListener(limited, s.tls)
	}
	err := s.fast.Serve(served)
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return ErrServerClosed
	}
	if err != nil {
		return fmt.Errorf("http serve on %s: %w", ln.Addr(), err)
	}
	return nil
}

// Addr is the address of the first listener being served, or nil before
// Serve or ListenAndServe has bound one.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.listeners) == 0 {
		return nil
	}
	return s.listeners[0].Addr()
}

// Shutdown stops accepting connections, lets requests in progress finish
// and closes idle connections. It returns ctx's error if connections are
// still open when ctx ends. Calls already started are not affected.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	alreadyClosed := s.closed
	s.closed = true
	listeners := s.listeners
	s.mu.Unlock()
	if !alreadyClosed {
		close(s.stopping)
	}
	// Close the listeners here too: a Serve that has not yet handed its
	// listener to fasthttp would otherwise be missed by fasthttp's shutdown.
	for _, ln := range listeners {
		_ = ln.Close()
	}
	// fasthttp reports the listeners closed above; that is no failure.
	var errs []error
	if err := s.fast.ShutdownWithContext(ctx); err != nil && !errors.Is(err, net.ErrClosed) {
		errs = append(errs, fmt.Errorf("http shutdown: %w", err))
	}
	// Callbacks already due still go out, within the same deadline.
	if s.notifier != nil {
		if err := s.notifier.Close(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// isClosing reports whether Shutdown has begun.
func (s *Server) isClosing() bool {
	select {
	case <-s.stopping:
		return true
	default:
		return false
	}
}

// fastLogger passes fasthttp's own messages (connection limits reached,
// accept errors) to slog as warnings.
type fastLogger struct{ log *slog.Logger }

func (l fastLogger) Printf(format string, args ...any) {
	l.log.Warn(fmt.Sprintf(format, args...))
}
