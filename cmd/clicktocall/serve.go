package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/clicktocall/clicktocall/actors"
	"github.com/clicktocall/clicktocall/cluster"
	"github.com/clicktocall/clicktocall/config"
	"github.com/clicktocall/clicktocall/config/logging"
	httpfront "github.com/clicktocall/clicktocall/frontends/http"
	xmlfront "github.com/clicktocall/clicktocall/frontends/xml"
	"github.com/clicktocall/clicktocall/intake/calloptions"
	"github.com/clicktocall/clicktocall/transport"
)

// serve runs the server until SIGINT or SIGTERM, then refuses new requests,
// ends every call (each gets its final result) and exits within
// shutdown_timeout: 0 after a signal, 1 when a listener failed.
func serve(args []string) int {
	fs := newFlagSet("serve", "", os.Stderr)
	configPath := fs.String("config", defaultConfig, "configuration `file`")
	quiet := fs.Bool("q", false, "print no start-up banner and no state changes on stdout")
	if status, ok := parseFlags(fs, args); !ok {
		return status
	}
	began := time.Now()
	out := &banner{w: os.Stdout}
	if *quiet {
		out.w = nil
	}
	cfg, err := config.Load(*configPath)
	if err != nil {
		fmt.Fprintf(os.Stderr, "clicktocall: %v\n", err)
		return 1
	}
	log, closer, err := logging.New(cfg.Log)
	if err != nil {
		fmt.Fprintf(os.Stderr, "clicktocall: %v\n", err)
		return 1
	}
	defer closer.Close()

	log.Info("starting", "version", versionString(), "config", cfg.File)
	for _, s := range cfg.Settings() {
		log.Debug("setting", "key", s.Key, "value", s.Value)
	}
	// sipgo logs through its package logger; its INFO records (e.g. a
	// retransmission no transaction waits for) are noise under load.
	sip.SetDefaultLogger(logging.AtLeast(log, slog.LevelWarn).With("lib", "sipgo"))
	setMemoryLimit(cfg.MemoryLimit, log)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := start(cfg, log)
	if err != nil {
		log.Error("start failed", "error", err)
		fmt.Fprintf(os.Stderr, "clicktocall: %v\n", err)
		return 1
	}
	out.started(cfg, srv.listening)
	out.state("ready in %s; Ctrl-C or SIGTERM stops it", elapsed(time.Since(began)))
	status := 0
	select {
	case <-ctx.Done():
		log.Info("stopping", "reason", "signal")
		out.state("draining: %d calls in progress, new requests refused (at most %v)", srv.engine.ActiveCalls(), cfg.ShutdownTimeout)
	case err := <-srv.failed:
		log.Error("stopping", "reason", err)
		out.state("stopping: %v; draining %d calls", err, srv.engine.ActiveCalls())
		status = 1
	}
	if err := srv.shutdown(cfg.ShutdownTimeout); err != nil {
		// Asked to stop, it stopped: every call had its final. What
		// shutdown_timeout cut short is a peer's doing (a BYE nobody
		// answers retransmits for 32 s), so a signalled stop still exits 0
		// and says what it left.
		log.Warn("shutdown incomplete", "error", err)
		out.state("stopped at shutdown_timeout, incomplete: %v", err)
		return status
	}
	log.Info("stopped")
	out.state("stopped")
	return status
}

// server is everything serve runs.
type server struct {
	log    *slog.Logger
	tr     *transport.Transport
	engine *actors.Engine
	http   *httpfront.Server
	xml    *xmlfront.Server
	obs    *observability
	// cluster is this node's membership of a cluster; nil when alone.
	cluster *cluster.Node
	failed  chan error
	// listening is what was bound, for the start-up banner.
	listening listening
	// stopping is set when shutdown begins: /readyz answers 503 from then.
	stopping atomic.Bool
}

func start(cfg *config.Config, log *slog.Logger) (*server, error) {
	s := &server{log: log, failed: make(chan error, 2)}
	// The front ends' certificates are checked before anything is opened.
	httpTLS, err := cfg.HTTP.ServerTLS()
	if err != nil {
		return nil, err
	}
	xmlTLS, err := cfg.XML.ServerTLS()
	if err != nil {
		return nil, err
	}
	options, err := calloptions.NewPolicy(cfg.API)
	if err != nil {
		return nil, err
	}
	s.obs, err = newObservability(cfg, log, func() int { return s.engine.ActiveCalls() })
	if err != nil {
		return nil, err
	}
	trOpts := sipTransportOptions(cfg.SIP, "clicktocall/"+version, log)
	trOpts.OnMessage = s.obs.metrics.SIPMessage
	if s.obs.traces != nil {
		trOpts.OnTrace = s.obs.traces.Observe
	}
	tr, err := transport.New(trOpts)
	if err != nil {
		s.obs.close()
		return nil, err
	}
	s.tr = tr
	log.Info("sip listening", "udp_tcp", tr.Addr(), "sockets", tr.Addrs())
	system := actors.NewActorSystem(log)
	var observer actors.Observer = s.obs.journal
	if cfg.Cluster.Enabled {
		// Joins in the background: a node whose etcd is down serves alone.
		s.cluster, err = cluster.Start(cluster.Options{Config: cfg.Cluster, MaxCallsPerInitiator: cfg.Limits.MaxCallsPerInitiator,
			IdempotencyWindow: cfg.API.IdempotencyWindow, Retention: cfg.API.CallRetention, Journal: s.obs.journal,
			Logger: log, Registry: s.obs.metrics.Registry()})
		if err != nil {
			tr.Close()
			s.obs.close()
			return nil, err
		}
		observer = s.cluster.Observer(observer)
	}
	s.engine, err = actors.NewEngine(actors.EngineOptions{SIP: cfg.SIP, Limits: cfg.Limits, Transport: tr, Logger: log, System: system,
		Observer: observer, Tracer: s.obs.tracer()})
	if err != nil {
		s.stopCluster()
		tr.Close()
		s.obs.close()
		return nil, err
	}
	s.obs.metrics.Overload(s.engine.Overload)
	if _, _, _, on := s.engine.Overload(); on {
		s.obs.metrics.PeerDelay(s.engine.PeerDelay)
	}
	s.obs.metrics.Retransmissions(tr.Retransmissions)
	var calls actors.CallStarter = s.engine
	if s.cluster != nil {
		calls = s.cluster.Starter(calls)
	}
	starter := s.obs.metrics.Starter(calls) // counts admissions and refusals by interface
	translate := func(a string) (string, error) { return config.Translate(cfg.Translation, a) }
	if cfg.XML.Port != 0 {
		s.xml = xmlfront.New(xmlfront.Options{Config: cfg.XML, Translate: translate, Starter: starter, Logger: log, System: system,
			TLS: xmlTLS, CallOptions: options})
		if err := s.xml.Start(); err != nil {
			s.stopCluster()
			tr.Close()
			s.obs.close()
			return nil, fmt.Errorf("xml listener: %w", err)
		}
		log.Info("xml listening", "addr", s.xml.Addr().String())
		s.listening.xml, s.listening.xmlTLS = s.xml.Addr(), xmlTLS != nil
	}
	s.listening.sip = tr.Addrs()
	if cfg.HTTP.Port != 0 {
		s.obs.startLive(s.engine.ActiveCalls)
		opts := httpfront.Options{HTTP: cfg.HTTP, Translate: translate, Calls: starter, Logger: log,
			Records: s.obs.journal, Cancel: s.engine.Cancel, API: cfg.API, CallOptions: options, Metrics: s.obs.metrics.Handler(),
			Rejections: s.obs.metrics, CallbackOutcome: s.obs.metrics.StatusCallback,
			Ready: func() bool { return !s.stopping.Load() }, TLS: httpTLS, Stats: s.obs.live, Traces: s.obs.traces}
		if s.cluster != nil {
			opts.Peers = s.cluster
		}
		s.http = httpfront.New(opts)
		if s.cluster != nil {
			s.cluster.Serve(s.http)
		}
		ln, err := s.http.Listen()
		if err != nil {
			if s.xml != nil {
				_ = s.xml.Shutdown(context.Background())
			}
			s.stopCluster()
			tr.Close()
			s.obs.close()
			return nil, err
		}
		s.listening.http, s.listening.tls = ln.Addr(), httpTLS != nil
		go func() {
			if err := s.http.Serve(ln); err != nil && !errors.Is(err, httpfront.ErrServerClosed) {
				s.failed <- fmt.Errorf("http listener: %w", err)
			}
		}()
		log.Info("http listening", "addr", ln.Addr().String())
	}
	return s, nil
}

// stopCluster leaves the cluster when start fails half-way.
func (s *server) stopCluster() {
	if s.cluster != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.cluster.Stop(ctx)
	}
}

// sipTransportOptions maps the sip { } settings onto the SIP transport.
func sipTransportOptions(s config.SIP, userAgent string, log *slog.Logger) transport.Options {
	o := transport.Options{IPAddress: s.IPAddress, Port: s.UDPTCPPort, OutboundProxy: s.OutboundProxy,
		UserAgent: userAgent, Logger: log, DNSServers: s.DNSServers, MaxMessageSize: s.MaxMessageSize,
		Linger: s.TransactionLinger}
	if s.KeepAlives {
		o.KeepAliveInterval = s.KeepAliveInterval
	}
	if s.TLSPort != 0 {
		o.TLS = &transport.TLSOptions{Port: s.TLSPort, Domain: s.TLSDomain,
			CertFile: s.TLSCertFile, KeyFile: s.TLSKeyFile, CAFile: s.TLSCAFile}
	}
	return o
}

// shutdown ends the calls first, so XML clients get their finals over the
// connections still open, then closes the listeners and the SIP sockets.
func (s *server) shutdown(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	s.stopping.Store(true)
	var errs []error
	// The engine gets all but the front ends' own grace (about 2 s to write
	// the last finals and close), so the whole stop fits in timeout.
	engineCtx, cancelEngine := context.WithTimeout(ctx, max(timeout-2*time.Second, timeout/2))
	defer cancelEngine()
	if err := s.engine.Shutdown(engineCtx); err != nil {
		errs = append(errs, err)
	}
	if s.xml != nil {
		if err := s.xml.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("xml: %w", err))
		}
	}
	if s.http != nil {
		if err := s.http.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("http: %w", err))
		}
	}
	if s.cluster != nil {
		// Last of the services: other nodes asked about this node's calls
		// until they had ended.
		if err := s.cluster.Stop(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if err := s.obs.close(); err != nil {
		errs = append(errs, err)
	}
	if err := s.tr.Close(); err != nil {
		errs = append(errs, fmt.Errorf("sip: %w", err))
	}
	return errors.Join(errs...)
}

// setMemoryLimit makes memory_limit Go's soft memory limit, so the GC works
// harder as the heap nears it instead of letting RSS grow. Process-wide, so
// serve sets it, not start. 0 leaves the runtime's limit alone: none, or
// what GOMEMLIMIT says.
func setMemoryLimit(limit int64, log *slog.Logger) {
	if limit <= 0 {
		return
	}
	debug.SetMemoryLimit(limit)
	if env, ok := os.LookupEnv("GOMEMLIMIT"); ok {
		log.Info("memory limit", "bytes", limit, "replaces_GOMEMLIMIT", env)
		return
	}
	log.Info("memory limit", "bytes", limit)
}
