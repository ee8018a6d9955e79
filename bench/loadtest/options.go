package loadtest

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"time"
)

// Options is one bench run, as set by the flags.
type Options struct {
	// Target: a running server, or one the bench starts.
	XMLAddr, HTTPAddr string
	Frontend          string // "xml" or "http"
	ServerPID         int    // sample this process's CPU and RSS
	StartServer       bool
	InProcess         bool   // start the server in this process (clicktocall bench only)
	ServerBin         string // binary to start; default: this clicktocall, or go build
	ServerLogLevel    string
	ServerMaxCalls    int
	ServerLimits      string        // more limits { } settings of a started server, "key = value; key = value"
	RingTimeout       time.Duration // of a started server
	KeepServerFiles   bool
	ServerEnv         []string // extra KEY=VALUE environment of a started server process (GOGC=400, say)
	CPUProfile        string   // in-process only: the whole process, goroutines labelled side=server|phones|client
	MemProfile        string   // in-process only: allocations of the whole process, written at the end

	// A/B comparison, when BaselineBin is set: each trial is run against
	// BaselineBin and against the candidate (ServerBin), ABRounds times
	// each, alternating, on a fresh server process every time.
	BaselineBin string
	ABRounds    int

	// Calls.
	Mode         string // "refer" or "anchored"
	Mix          Mix
	SIPTransport string
	Host         string // loopback address of the phones
	Initiators   int    // initiator phones
	Destinations int    // destination phones
	Ring         bool
	RingDelay    time.Duration
	Talk         time.Duration
	// External phones (SIPp, say): calls go to these host:ports and are
	// judged by their XML results alone.
	InitiatorAt, DestinationAt string

	// Load.
	Rate     float64
	Duration time.Duration
	Ramp     time.Duration // the rate rises linearly from 0 over the first Ramp of Duration
	Conns    int
	Drain    time.Duration
	Settle   time.Duration
	Search   bool
	SearchConfig

	// AllowRefused: requests the server refuses (503/429 before their call
	// starts, as overload protection does) do not fail the trial; only
	// admitted calls that fail do.
	AllowRefused bool
	// Soak (-duration of soakMinimum or more): the RSS slope is fitted
	// after Warmup, and a slope above MaxRSSSlope (% per 10 min) fails the
	// trial (0: any slope passes).
	Warmup      time.Duration
	MaxRSSSlope float64

	JSONFile   string
	ReportFile string // -report: a self-contained HTML report with charts
	Quiet      bool

	noPhones    bool // tests against a fake server: judge calls by their XML results only
	abRoundsSet bool // -ab-rounds was given
}

// Hooks are what the clicktocall binary gives the bench that package
// bench cannot reach itself.
type Hooks struct {
	// StartInProcess starts the server on a config file in this process and
	// returns the function that stops it.
	StartInProcess func(configFile string) (stop func() error, err error)
	// ServerBin is the default server binary for -start-server.
	ServerBin string
}

func parseOptions(args []string, stderr io.Writer, hooks Hooks) (*Options, error) {
	o := &Options{}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, `usage: bench [flags]    (also: clicktocall bench [flags])

Drives a click-to-call server with simulated SIP phones on loopback, at a
fixed rate (-rate, -duration) or searching for the highest rate with no
failed call (-search), and reports outcomes, latencies and the server's CPU
and memory. Give the server's XML (or HTTP) address, or -start-server.

flags:`)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.XMLAddr, "xml", "", "`host:port` of the server's XML interface")
	fs.StringVar(&o.HTTPAddr, "http", "", "`host:port` of the server's HTTP interface")
	fs.StringVar(&o.Frontend, "frontend", "", "front end to drive: xml or http (default: xml unless only -http is given)")
	fs.IntVar(&o.ServerPID, "server-pid", 0, "`pid` of the server, to sample its CPU time and RSS")
	fs.BoolVar(&o.StartServer, "start-server", false, "start a server on loopback with a generated config (its CPU and RSS are sampled)")
	if hooks.StartInProcess != nil {
		fs.BoolVar(&o.InProcess, "inproc", false, "with -start-server: run the server in this process (CPU and RSS are then the whole process's)")
		fs.StringVar(&o.CPUProfile, "cpuprofile", "", "with -inproc: write a CPU profile to `file` (goroutines labelled side=server, phones or client)")
		fs.StringVar(&o.MemProfile, "memprofile", "", "with -inproc: write an allocation profile to `file` at the end")
	}
	fs.StringVar(&o.ServerBin, "server-bin", "", "server `binary` for -start-server (default: this clicktocall, or go build ./cmd/clicktocall)")
	fs.StringVar(&o.BaselineBin, "baseline-bin", "", "with -start-server: A/B mode, the same trials against this baseline server `binary` and the candidate (-server-bin or the default), alternating, baseline first, a fresh server each trial; prints medians and candidate/baseline ratios")
	fs.IntVar(&o.ABRounds, "ab-rounds", 3, "with -baseline-bin: trials of each binary (at least 1)")
	fs.StringVar(&o.ServerLogLevel, "server-log-level", "INFO", "log.level of a started server")
	fs.IntVar(&o.ServerMaxCalls, "server-max-calls", 20000, "limits.max_active_calls of a started server")
	fs.StringVar(&o.ServerLimits, "server-limits", "", "more `settings` of a started server's limits { } block, \"key = value; ...\" (e.g. 'overload_lag_target = \"20ms\"')")
	fs.DurationVar(&o.RingTimeout, "ring-timeout", 5*time.Second, "sip.ring_timeout of a started server (noanswer calls last this long)")
	fs.BoolVar(&o.KeepServerFiles, "keep-server-files", false, "keep a started server's config and log (their directory is printed)")
	fs.Func("server-env", "`KEY=VALUE` added to a started server process's environment (repeatable), e.g. GOGC=400", func(v string) error {
		if k, _, ok := strings.Cut(v, "="); !ok || k == "" {
			return fmt.Errorf("want KEY=VALUE, got %q", v)
		}
		o.ServerEnv = append(o.ServerEnv, v)
		return nil
	})

	fs.StringVar(&o.Mode, "mode", "refer", "refer (unanchored; the initiator is REFERred) or anchored")
	mix := fs.String("mix", "accept=100", "initiator behaviours and their weights: accept (answers, accepts REFER, NOTIFYs), refuse (refuses REFER: fallback), busy (486), noanswer")
	fs.StringVar(&o.SIPTransport, "sip-transport", "udp", "phones' SIP transport: udp or tcp")
	fs.StringVar(&o.Host, "phone-host", "127.0.0.1", "loopback address the phones bind (127.0.0.1 or ::1)")
	fs.IntVar(&o.Initiators, "phones", 2, "initiator phones (each one sipgo user agent with its own socket)")
	fs.IntVar(&o.Destinations, "dest-phones", 1, "destination phones")
	fs.BoolVar(&o.Ring, "ring", false, "phones send 180 Ringing before answering")
	fs.DurationVar(&o.RingDelay, "ring-delay", 0, "time phones wait before answering")
	fs.DurationVar(&o.Talk, "talk", 0, "destination's talk time before it hangs up (0: at once)")
	fs.StringVar(&o.InitiatorAt, "initiator-at", "", "`host:port` of external initiator phones (e.g. SIPp with bench/sipp/initiator.xml) instead of the bench's own")
	fs.StringVar(&o.DestinationAt, "destination-at", "", "`host:port` of external destination phones (e.g. SIPp with bench/sipp/destination.xml)")

	fs.Float64Var(&o.Rate, "rate", 100, "calls per second")
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "how long to send calls (each search step too)")
	fs.DurationVar(&o.Ramp, "ramp", 0, "raise the rate linearly from 0 to -rate over this first part of -duration (then hold it), as load reaches a server in production; 0: the full rate at once")
	fs.IntVar(&o.Conns, "conns", 16, "XML connections (requests are pipelined on them) or HTTP connections")
	fs.DurationVar(&o.Drain, "drain", 0, "after the last request, wait at most this for every call's outcome (default 10s, or ring-timeout+10s with noanswer calls)")
	fs.DurationVar(&o.Settle, "settle", 3*time.Second, "pause between trials (search steps, A/B trials)")
	fs.BoolVar(&o.Search, "search", false, "search for the highest rate with no failed call (RFC 7502 style)")
	fs.Float64Var(&o.SearchConfig.Start, "search-start", 500, "search: first rate")
	fs.Float64Var(&o.SearchConfig.Max, "search-max", 20000, "search: highest rate to try")
	fs.Float64Var(&o.SearchConfig.Factor, "search-factor", 2, "search: step-up factor until a step fails")
	fs.Float64Var(&o.SearchConfig.Resolution, "search-resolution", 100, "search: stop when passing and failing rates are this close")
	fs.IntVar(&o.SearchConfig.MaxSteps, "search-steps", 10, "search: most steps")

	fs.BoolVar(&o.AllowRefused, "allow-refused", false, "requests the server refuses before starting their call (503/429: overload protection, limits) do not fail a trial; admitted calls must still all succeed")
	fs.DurationVar(&o.Warmup, "warmup", 2*time.Minute, "soak (-duration 2m or more): the server's RSS slope is fitted after this")
	fs.Float64Var(&o.MaxRSSSlope, "max-rss-slope", 0, "soak: fail the trial when the server's RSS grows faster than this `percent` per 10 minutes after -warmup (0: report only)")
	fs.StringVar(&o.JSONFile, "json", "", "write the results as JSON to `file`")
	fs.StringVar(&o.ReportFile, "report", "", "write a self-contained HTML report with charts to `file` (latencies, ok and failed calls per second, server CPU and RSS over time; goodput against offered rate for -search; both binaries side by side for -baseline-bin)")
	fs.BoolVar(&o.Quiet, "q", false, "no progress lines on stderr")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "ab-rounds" {
			o.abRoundsSet = true
		}
	})
	var err error
	if o.Mix, err = ParseMix(*mix); err != nil {
		return nil, err
	}
	return o, o.validate()
}

func (o *Options) validate() error {
	var errs []error
	o.Mode = strings.ToLower(o.Mode)
	if o.Mode != "refer" && o.Mode != "anchored" {
		errs = append(errs, fmt.Errorf("-mode %q: want refer or anchored", o.Mode))
	}
	o.SIPTransport = strings.ToLower(o.SIPTransport)
	if o.SIPTransport != "udp" && o.SIPTransport != "tcp" {
		errs = append(errs, fmt.Errorf("-sip-transport %q: want udp or tcp", o.SIPTransport))
	}
	if ip := net.ParseIP(o.Host); ip == nil || !ip.IsLoopback() {
		errs = append(errs, fmt.Errorf("-phone-host %q: want a loopback address", o.Host))
	}
	if o.StartServer == (o.XMLAddr != "" || o.HTTPAddr != "") {
		errs = append(errs, errors.New("give the server's -xml or -http address, or -start-server"))
	}
	if len(o.ServerEnv) > 0 && (!o.StartServer || o.InProcess) {
		errs = append(errs, errors.New("-server-env needs -start-server without -inproc"))
	}
	if o.InProcess && !o.StartServer {
		errs = append(errs, errors.New("-inproc goes with -start-server"))
	}
	if o.BaselineBin != "" {
		if !o.StartServer || o.InProcess {
			errs = append(errs, errors.New("-baseline-bin needs -start-server without -inproc: each trial starts a server process of one binary"))
		}
		if _, err := exec.LookPath(o.BaselineBin); err != nil {
			errs = append(errs, fmt.Errorf("-baseline-bin: %w", err))
		}
		if o.ABRounds < 1 {
			errs = append(errs, fmt.Errorf("-ab-rounds %d: at least 1", o.ABRounds))
		}
		if o.Search && o.abRoundsSet {
			errs = append(errs, errors.New("-ab-rounds does not go with -search: an A/B search runs one search of each binary"))
		}
	} else if o.abRoundsSet {
		errs = append(errs, errors.New("-ab-rounds goes with -baseline-bin"))
	}
	if (o.CPUProfile != "" || o.MemProfile != "") && !o.InProcess {
		errs = append(errs, errors.New("-cpuprofile and -memprofile need -start-server -inproc (a separate server process cannot be profiled from here)"))
	}
	if o.Frontend == "" {
		o.Frontend = "xml"
		if o.XMLAddr == "" && o.HTTPAddr != "" {
			o.Frontend = "http"
		}
	}
	switch o.Frontend {
	case "xml":
		if o.XMLAddr == "" && !o.StartServer {
			errs = append(errs, errors.New("-frontend xml needs -xml"))
		}
	case "http":
		if o.HTTPAddr == "" && !o.StartServer {
			errs = append(errs, errors.New("-frontend http needs -http"))
		}
	default:
		errs = append(errs, fmt.Errorf("-frontend %q: want xml or http", o.Frontend))
	}
	if (o.InitiatorAt == "") != (o.DestinationAt == "") {
		errs = append(errs, errors.New("-initiator-at and -destination-at go together"))
	}
	if o.InitiatorAt != "" {
		for _, a := range []string{o.InitiatorAt, o.DestinationAt} {
			if _, _, err := net.SplitHostPort(a); err != nil {
				errs = append(errs, fmt.Errorf("external phone address %q: %v", a, err))
			}
		}
		if o.Frontend == "http" {
			errs = append(errs, errors.New("external phones need -frontend xml: over HTTP nothing would tell how the calls went"))
		}
	}
	if o.Initiators < 1 || o.Destinations < 1 || o.Conns < 1 {
		errs = append(errs, errors.New("-phones, -dest-phones and -conns must be at least 1"))
	}
	if o.Search {
		if err := o.SearchConfig.validate(); err != nil {
			errs = append(errs, err)
		}
	} else if o.Rate <= 0 || o.Duration <= 0 {
		errs = append(errs, errors.New("-rate and -duration must be positive"))
	}
	if o.Ramp < 0 || (o.Duration > 0 && o.Ramp > o.Duration) {
		errs = append(errs, errors.New("-ramp must be between 0 and -duration"))
	}
	if o.Drain == 0 {
		o.Drain = 10 * time.Second
		if o.Mix[KindNoAnswer] > 0 {
			o.Drain = o.RingTimeout + 10*time.Second
		}
	}
	return errors.Join(errs...)
}
