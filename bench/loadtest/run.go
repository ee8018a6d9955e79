package loadtest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/clicktocall/clicktocall/bench/phone"
	"github.com/clicktocall/clicktocall/bench/procstat"
	"github.com/clicktocall/clicktocall/bench/stats"
	"github.com/clicktocall/clicktocall/bench/xmlclient"
	"github.com/clicktocall/clicktocall/config/logging"
)

// Result is a whole bench run; -json writes it.
type Result struct {
	Started time.Time `json:"started"`
	Command []string  `json:"command"`
	Machine Machine   `json:"machine"`
	Target  Target    `json:"target"`
	Calls   CallSetup `json:"calls"`
	Trials  []*Trial  `json:"trials"`
	Search  *Searched `json:"search,omitempty"`
	// AB compares the baseline and candidate binaries of an A/B run
	// (-baseline-bin); its trials are in Trials, each with its Side.
	AB       *Comparison `json:"ab,omitempty"`
	Problems []string    `json:"problems,omitempty"`
}

// Machine describes where the bench ran.
type Machine struct {
	CPUs         int    `json:"cpus"`
	GoVersion    string `json:"go_version"`
	LoadAvgStart string `json:"loadavg_start"`
	LoadAvgEnd   string `json:"loadavg_end"`
}

// Target describes the server under test.
type Target struct {
	Frontend  string   `json:"frontend"`
	Addr      string   `json:"addr"`
	PID       int      `json:"pid,omitempty"`
	Started   bool     `json:"started_by_bench"`
	InProcess bool     `json:"in_process"`
	LogLevel  string   `json:"log_level,omitempty"`
	LogFile   string   `json:"log_file,omitempty"`
	Env       []string `json:"env,omitempty"` // added to a started server's environment
}

// CallSetup is what every call of the run looks like.
type CallSetup struct {
	Mode         string `json:"mode"`
	Mix          string `json:"mix"`
	SIPTransport string `json:"sip_transport"`
	Initiators   int    `json:"initiator_phones"`
	Destinations int    `json:"destination_phones"`
	Ring         bool   `json:"ring"`
	Talk         string `json:"talk"`
	Conns        int    `json:"connections"`
	// ExternalPhones are the initiator and destination addresses of phones
	// the bench did not start; their calls are judged by XML results alone.
	ExternalPhones string `json:"external_phones,omitempty"`
}

// Searched is the outcome of -search.
type Searched struct {
	Config SearchConfig `json:"config"`
	Steps  []SearchStep `json:"steps"`
	Best   float64      `json:"best_rate"`
}

// Trial is one run at a fixed rate.
type Trial struct {
	Side         string         `json:"side,omitempty"`       // A/B runs: "baseline" or "candidate"
	ServerPID    int            `json:"server_pid,omitempty"` // A/B runs: the server process of this trial
	Rate         float64        `json:"rate"`
	DurationS    float64        `json:"duration_s"`
	Offered      int            `json:"offered"`
	Sent         int            `json:"sent"`
	Succeeded    int            `json:"succeeded"`
	Failed       int            `json:"failed"`
	Refused      int            `json:"refused"`                     // of the failed: 503/429 before the call started; a trial passes with only these under -allow-refused
	Refusals     map[string]int `json:"refusals,omitempty"`          // by result text (XML) or status (HTTP)
	NoRetryAfter int            `json:"refused_without_retry_after"` // refusals that said nothing of when to come back
	Pass         bool           `json:"pass"`
	Interrupted  bool           `json:"interrupted,omitempty"`
	AchievedRate float64        `json:"achieved_rate"` // succeeded calls per second of sending
	SendS        float64        `json:"send_s"`
	DrainS       float64        `json:"drain_s"`
	PacerLagMaxS float64        `json:"pacer_lag_max_s"`
	// ServerSIP is what the server counted itself (its /metrics), when the
	// bench can reach its HTTP interface.
	ServerSIP *ServerSIP `json:"server_sip,omitempty"`
	// Soak: a line a minute and the RSS trend, for trials of -duration
	// soakMinimum or longer.
	Minutes      []MinuteStat   `json:"minutes,omitempty"`
	RSSSlope     *RSSSlope      `json:"rss_slope,omitempty"`
	Failures     map[string]int `json:"failures,omitempty"`
	Latency      Latencies      `json:"latency"`
	Server       *Usage         `json:"server,omitempty"`
	Bench        *Usage         `json:"bench_process,omitempty"`
	Initiators   phone.Stats    `json:"initiator_phones"`
	Destinations phone.Stats    `json:"destination_phones"`
	Errors       []string       `json:"errors,omitempty"`
	LoadAvgEnd   string         `json:"loadavg_end"`
	// UDPDrops counts datagrams the kernel dropped for full socket receive
	// buffers during the trial, on the whole machine.
	UDPDrops uint64 `json:"udp_rcvbuf_drops"`
	// Series is the trial second by second, recorded for -report.
	Series *Series `json:"series,omitempty"`
}

// Latencies are measured from the moment the bench sent the request.
type Latencies struct {
	Invite    stats.Summary `json:"to_initiator_invite"`   // the initiator phone got the INVITE
	Answer    stats.Summary `json:"to_initiator_answer"`   // XML "200 Initiator" read (HTTP: the phone sent its 200)
	Final     stats.Summary `json:"to_final"`              // XML final read (HTTP: the phones saw the connection)
	Refusal   stats.Summary `json:"to_refusal"`            // the refusal of a refused request read
	Connected stats.Summary `json:"to_connected_by_phone"` // final NOTIFY sent, or destination ACKed
}

// Usage is a process's cost over a trial, from the first request to the
// end of the drain.
type Usage struct {
	CPUS         float64 `json:"cpu_s"`
	Cores        float64 `json:"cores"` // CPU seconds per second
	CPUPerCallUS float64 `json:"cpu_per_call_us"`
	// SwitchesPerCall is the context switches of the process's threads per
	// ok call (see procstat.Usage.CtxSwitches).
	SwitchesPerCall float64 `json:"context_switches_per_call,omitempty"`
	PeakRSSMiB      float64 `json:"peak_rss_mib"` // highest sampled in the trial
	EndRSSMiB       float64 `json:"end_rss_mib"`
	LifePeakMiB     float64 `json:"lifetime_peak_rss_mib"` // VmHWM
	WholeProcess    bool    `json:"whole_process,omitempty"`
	SamplingError   string  `json:"sampling_error,omitempty"`
}

const mib = 1 << 20

// runner holds what lives across the trials of a run.
type runner struct {
	o        *Options
	tgt      *target
	phones   *phonePool
	cur      atomic.Pointer[table]
	next     uint64
	sched    []Kind
	server   *procstat.Sampler // nil: no pid
	self     *procstat.Sampler // nil when the server is this process
	progress io.Writer
	ctx      context.Context
}

// Run runs the bench and returns its result; progress gets a line a second.
func Run(ctx context.Context, o *Options, hooks Hooks, progress io.Writer) (*Result, error) {
	res := &Result{
		Started: time.Now(),
		Command: os.Args,
		Machine: Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), LoadAvgStart: loadAvg()},
		Calls: CallSetup{Mode: o.Mode, Mix: o.Mix.String(), SIPTransport: o.SIPTransport, Initiators: o.Initiators,
			Destinations: o.Destinations, Ring: o.Ring, Talk: o.Talk.String(), Conns: o.Conns},
	}
	if o.Quiet {
		progress = io.Discard
	}
	r := &runner{o: o, sched: o.Mix.schedule(), progress: progress, ctx: ctx}

	if o.CPUProfile != "" {
		f, err := os.Create(o.CPUProfile)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}

	if o.MemProfile != "" {
		defer func() {
			if err := writeHeapProfile(o.MemProfile); err != nil {
				res.Problems = append(res.Problems, err.Error())
			}
		}()
	}

	tgt := &target{xmlAddr: o.XMLAddr, httpAddr: o.HTTPAddr, pid: o.ServerPID}
	var ab *abServers
	switch {
	case o.BaselineBin != "":
		var err error
		if ab, err = prepareAB(o, hooks, progress); err != nil {
			return nil, err
		}
		defer ab.files.remove(o.KeepServerFiles)
		tgt = ab.files.target() // started anew for every trial
		res.Target.LogLevel, res.Target.Env = o.ServerLogLevel, o.ServerEnv
		if o.KeepServerFiles {
			res.Target.LogFile = tgt.logFile
		}
		res.AB = &Comparison{BaselineBin: ab.bins[sideBaseline], CandidateBin: ab.bins[sideCandidate], Order: abOrderText}
		if !o.Search {
			res.AB.Rounds = o.ABRounds
		}
		fmt.Fprintf(progress, "A/B: baseline %s, candidate %s, each trial on a fresh server process with %s\n",
			ab.bins[sideBaseline], ab.bins[sideCandidate], ab.files.config)
	case o.StartServer:
		var err error
		labelled("server", func() { tgt, err = startServer(o, hooks, progress) })
		if err != nil {
			return nil, err
		}
		defer func() {
			if o.InitiatorAt != "" {
				// External phones are judged by XML alone: give their last
				// calls a moment to hang up before the server ends them.
				time.Sleep(time.Second)
			}
			if err := tgt.stop(); err != nil {
				res.Problems = append(res.Problems, "stopping the server: "+err.Error())
			}
		}()
		res.Target.LogLevel, res.Target.Env = o.ServerLogLevel, o.ServerEnv
		if o.KeepServerFiles {
			res.Target.LogFile = tgt.logFile
		}
		fmt.Fprintf(progress, "server started: xml %s, http %s, pid %d (in process: %v)\n", tgt.xmlAddr, tgt.httpAddr, tgt.pid, tgt.inProcess)
	}
	r.tgt = tgt
	res.Target.Frontend, res.Target.PID, res.Target.Started, res.Target.InProcess = o.Frontend, tgt.pid, o.StartServer, tgt.inProcess
	res.Target.Addr = tgt.xmlAddr
	if o.Frontend == "http" {
		res.Target.Addr = tgt.httpAddr
	}

	if tgt.pid != 0 {
		s, err := procstat.Start(tgt.pid, 200*time.Millisecond)
		if err != nil {
			return nil, fmt.Errorf("sampling the server (pid %d): %w", tgt.pid, err)
		}
		defer s.Stop()
		r.server = s
	}
	if !tgt.inProcess {
		if s, err := procstat.Start(0, 200*time.Millisecond); err == nil {
			defer s.Stop()
			r.self = s
		}
	}

	if !tgt.inProcess {
		// Only the phones use sipgo here; closing them makes it warn about
		// its own socket reference counts.
		sip.SetDefaultLogger(logging.AtLeast(slog.New(slog.NewTextHandler(os.Stderr, nil)), slog.LevelError))
	}
	if o.InitiatorAt != "" {
		r.phones = externalPhones(o.InitiatorAt, o.DestinationAt, o.SIPTransport)
		res.Calls.ExternalPhones = o.InitiatorAt + " " + o.DestinationAt
	} else {
		var err error
		labelled("phones", func() {
			r.phones, err = newPhonePool(phoneOptions{host: o.Host, transport: o.SIPTransport, initiators: o.Initiators,
				dests: o.Destinations, ring: o.Ring, ringDelay: o.RingDelay, talk: o.Talk}, &r.cur)
		})
		if err != nil {
			return nil, err
		}
	}
	defer func() {
		if err := r.phones.close(); err != nil {
			res.Problems = append(res.Problems, err.Error())
		}
	}()

	if ab != nil {
		var err error
		if o.Search {
			err = r.abSearch(res, ab)
		} else {
			err = r.abFixed(res, ab)
		}
		res.Machine.LoadAvgEnd = loadAvg()
		return res, err
	}
	if !o.Search {
		t, err := r.trial(o.Rate)
		if t != nil {
			res.Trials = append(res.Trials, t)
		}
		res.Machine.LoadAvgEnd = loadAvg()
		return res, err
	}
	res.Search = &Searched{Config: o.SearchConfig}
	steps, best, err := Search(o.SearchConfig, func(rate float64) (bool, error) {
		if err := r.settle(len(res.Trials)); err != nil {
			return false, err
		}
		t, err := r.trial(rate)
		if t != nil {
			res.Trials = append(res.Trials, t)
			fmt.Fprintf(progress, "step %d: %g calls/s %s (%d ok, %d failed)\n", len(res.Trials), rate, passWord(t.Pass), t.Succeeded, t.Failed)
		}
		if err == nil && t.Interrupted {
			err = ctx.Err()
		}
		return err == nil && t.Pass, err
	})
	res.Search.Steps, res.Search.Best = steps, best
	res.Machine.LoadAvgEnd = loadAvg()
	return res, err
}

// settle waits -settle before a trial that follows others (after of them)
// and returns the run's context error, if it was interrupted.
func (r *runner) settle(after int) error {
	if after > 0 && r.o.Settle > 0 {
		fmt.Fprintf(r.progress, "settling %v\n", r.o.Settle)
		select {
		case <-time.After(r.o.Settle):
		case <-r.ctx.Done():
		}
	}
	return r.ctx.Err()
}

func passWord(pass bool) string {
	if pass {
		return "PASS"
	}
	return "FAIL"
}

// labelled runs f with pprof labels side=name, which every goroutine it
// starts inherits: in a profile of an in-process run, -tagfocus side=server
// keeps the server's samples apart from the phones'.
func labelled(side string, f func()) {
	pprof.Do(context.Background(), pprof.Labels("side", side), func(context.Context) { f() })
}

// trial sends calls at rate for o.Duration and waits for their outcome.
func (r *runner) trial(rate float64) (*Trial, error) {
	o := r.o
	sched := schedule{rate: rate, ramp: o.Ramp}
	total := sched.total(o.Duration)
	t := newTable(r.next, total, r.sched, o.Mode == "anchored", o.Frontend == "http", o.noPhones || r.phones.external)
	r.next += uint64(total)
	r.phones.forget()

	var drv driver
	var err error
	labelled("client", func() {
		if o.Frontend == "http" {
			drv = newHTTPDriver(r.tgt.httpAddr, o.Conns, t)
		} else {
			drv, err = newXMLDriver(r.tgt.xmlAddr, o.Conns, t)
		}
	})
	if err != nil {
		return nil, err
	}
	defer drv.close()

	u0 := r.usage0()
	sip0, sipErr0 := r.scrapeServer()
	udp0, udpErr := procstat.ReadUDPErrors()
	in0, dest0 := r.phones.stats()
	ramp := ""
	if o.Ramp > 0 {
		ramp = fmt.Sprintf(", rising from 0 over the first %v", o.Ramp)
	}
	fmt.Fprintf(r.progress, "%s: %g calls/s for %v%s (%d calls)\n", o.Mode, rate, o.Duration, ramp, total)

	t.start = time.Now()
	r.cur.Store(t)
	series := r.startSeries(t)
	stop := make(chan struct{})
	progressDone := make(chan struct{})
	soak := &soakLog{}
	go func() { defer close(progressDone); r.report(t, stop, soak) }()
	interrupt := make(chan struct{})
	go func() {
		select {
		case <-r.ctx.Done():
			close(interrupt)
		case <-stop:
		}
	}()
	anchored := o.Mode == "anchored"
	var sent int
	var lag time.Duration
	labelled("client", func() {
		sent, lag = pace(t.start, sched, total, interrupt, func(from, to int) {
			batch := make([]xmlclient.Request, 0, to-from)
			for k := from; k < to; k++ {
				ini, dst := r.phones.uris(t.base + uint64(k))
				batch = append(batch, xmlclient.Request{Initiator: ini, Destination: dst, Anchor: anchored})
			}
			drv.send(t.base+uint64(from), batch)
			t.sent.Add(int64(to - from))
		})
	})
	sendEnd := time.Now()
	deadline := sendEnd.Add(o.Drain)
	drv.finish(deadline)
	for t.resolved.Load() < int64(sent) && time.Now().Before(deadline) && r.ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	end := time.Now()
	close(stop)
	<-progressDone

	sip1, sipErr1 := r.scrapeServer()
	tr := &Trial{
		Rate: rate, DurationS: o.Duration.Seconds(), Offered: total, Sent: sent,
		ServerSIP: serverSIP(sip0, sip1, sipErr0, sipErr1), Minutes: soak.minutes,
		Interrupted: r.ctx.Err() != nil,
		SendS:       sendEnd.Sub(t.start).Seconds(), DrainS: end.Sub(sendEnd).Seconds(),
		PacerLagMaxS: lag.Seconds(), Errors: drv.errs(), LoadAvgEnd: loadAvg(),
	}
	if n := r.phones.stray.Swap(0); n > 0 {
		tr.Errors = append(tr.Errors, fmt.Sprintf("%d INVITEs to the phones for no call of this trial", n))
	}
	if udp1, err := procstat.ReadUDPErrors(); err == nil && udpErr == nil {
		tr.UDPDrops = udp1.RcvbufErrors - udp0.RcvbufErrors
	}
	in1, dest1 := r.phones.stats()
	tr.Initiators, tr.Destinations = diffStats(in1, in0), diffStats(dest1, dest0)
	r.evaluate(t, sent, tr)
	tr.Series = series.finish(t, sent)
	if o.Duration >= soakMinimum {
		tr.RSSSlope = soak.slope(o.Warmup, sendEnd.Sub(t.start))
	}
	wall := end.Sub(t.start)
	tr.Server, tr.Bench = r.usage1(u0, wall, tr.Succeeded)
	if tr.SendS > 0 {
		tr.AchievedRate = float64(tr.Succeeded) / tr.SendS
	}
	tr.Pass = sent == total && !tr.Interrupted && (tr.Failed == 0 || o.AllowRefused && tr.Failed == tr.Refused)
	if slope := tr.RSSSlope; slope != nil && o.MaxRSSSlope > 0 && slope.PctPer10Min > o.MaxRSSSlope {
		tr.Pass = false
		tr.Errors = append(tr.Errors, fmt.Sprintf("RSS grew %.2f %% per 10 min after the warm-up, more than -max-rss-slope %g", slope.PctPer10Min, o.MaxRSSSlope))
	}
	return tr, nil
}

func (r *runner) evaluate(t *table, sent int, tr *Trial) {
	var invite, answer, final, connected, refusal []time.Duration
	tr.Failures = map[string]int{}
	tr.Refusals = map[string]int{}
	for i := range sent {
		rec := &t.recs[i]
		if rec.refused.Load() {
			tr.Refused++
			text, _ := rec.refusal.Load().(string)
			tr.Refusals[text]++
			if rec.retryAfter.Load() <= 0 {
				tr.NoRetryAfter++
			}
			if s, at := rec.sent.Load(), rec.final.Load(); s > 0 && at > 0 {
				refusal = append(refusal, time.Duration(at-s))
			}
		}
		if why := t.failure(rec); why != "" {
			tr.Failed++
			tr.Failures[rec.kind.String()+": "+why]++
		} else {
			tr.Succeeded++
		}
		if rec.refused.Load() {
			continue // the latencies are of admitted calls
		}
		s := rec.sent.Load()
		add := func(dst *[]time.Duration, at int64) {
			if at > 0 && s > 0 {
				*dst = append(*dst, time.Duration(at-s))
			}
		}
		add(&invite, rec.invite.Load())
		add(&connected, rec.connected.Load())
		if t.http {
			add(&answer, rec.answered.Load())
			add(&final, rec.connected.Load())
		} else {
			add(&answer, rec.initOK.Load())
			add(&final, rec.final.Load())
		}
	}
	if len(tr.Failures) == 0 {
		tr.Failures = nil
	}
	if len(tr.Refusals) == 0 {
		tr.Refusals = nil
	}
	tr.Latency = Latencies{Invite: stats.Summarize(invite), Answer: stats.Summarize(answer),
		Final: stats.Summarize(final), Connected: stats.Summarize(connected), Refusal: stats.Summarize(refusal)}
}

type usageStart struct {
	srv, self procstat.Usage
}

func (r *runner) usage0() usageStart {
	var u usageStart
	if r.server != nil {
		r.server.Reset()
		u.srv, _ = r.server.Now()
	}
	if r.self != nil {
		r.self.Reset()
		u.self, _ = r.self.Now()
	}
	return u
}

func (r *runner) usage1(u0 usageStart, wall time.Duration, calls int) (server, bench *Usage) {
	mk := func(s *procstat.Sampler, start procstat.Usage) *Usage {
		now, peak := s.Now()
		u := &Usage{CPUS: (now.CPU - start.CPU).Seconds(), PeakRSSMiB: float64(peak) / mib,
			EndRSSMiB: float64(now.RSS) / mib, LifePeakMiB: float64(now.PeakRSS) / mib}
		u.Cores = u.CPUS / wall.Seconds()
		if calls > 0 {
			u.CPUPerCallUS = u.CPUS / float64(calls) * 1e6
			u.SwitchesPerCall = float64(now.CtxSwitches-start.CtxSwitches) / float64(calls)
		}
		if err := s.Err(); err != nil {
			u.SamplingError = err.Error()
		}
		return u
	}
	if r.server != nil {
		server = mk(r.server, u0.srv)
		server.WholeProcess = r.tgt.inProcess
	}
	if r.self != nil {
		bench = mk(r.self, u0.self)
	}
	return server, bench
}

// report prints a progress line a second until stop; in a soak (a trial
// of soakMinimum or longer) also a line a minute, and it samples the
// server's RSS for the slope.
func (r *runner) report(t *table, stop <-chan struct{}, soak *soakLog) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var lastCPU time.Duration
	lastAt := time.Now()
	if r.server != nil {
		u, _ := r.server.Now()
		lastCPU = u.CPU
		soak.cpu = u.CPU
	}
	soak.at = t.start
	soaking := r.o.Duration >= soakMinimum
	nextMinute, nextRSS := t.start.Add(time.Minute), t.start
	for {
		select {
		case <-stop:
			return
		case now := <-tick.C:
			if soaking && r.server != nil && !now.Before(nextRSS) {
				u, _ := r.server.Now()
				soak.rss = append(soak.rss, rssSample{at: now.Sub(t.start), mib: float64(u.RSS) / mib})
				nextRSS = nextRSS.Add(rssEvery)
			}
			if soaking && !now.Before(nextMinute) {
				soak.minute(r.progress, len(soak.minutes)+1, t, r.server, now)
				nextMinute = nextMinute.Add(time.Minute)
			}
			sent := t.sent.Load()
			line := fmt.Sprintf("  %5.1fs sent %d ok %d failed %d refused %d pending %d",
				now.Sub(t.start).Seconds(), sent, t.succeeded.Load(), t.failedNow.Load(), t.refusedNow.Load(), sent-t.resolved.Load())
			if r.server != nil {
				u, _ := r.server.Now()
				line += fmt.Sprintf(" | server %.2f cores, RSS %.0f MiB", (u.CPU-lastCPU).Seconds()/now.Sub(lastAt).Seconds(), float64(u.RSS)/mib)
				lastCPU, lastAt = u.CPU, now
			}
			fmt.Fprintln(r.progress, line)
		}
	}
}

func diffStats(a, b phone.Stats) phone.Stats {
	return phone.Stats{
		CallsReceived: a.CallsReceived - b.CallsReceived, Challenged: a.Challenged - b.Challenged,
		Ringing: a.Ringing - b.Ringing, Answered: a.Answered - b.Answered, Confirmed: a.Confirmed - b.Confirmed,
		Rejected: a.Rejected - b.Rejected, Cancelled: a.Cancelled - b.Cancelled, Reinvites: a.Reinvites - b.Reinvites,
		RefersAccepted: a.RefersAccepted - b.RefersAccepted, RefersRejected: a.RefersRejected - b.RefersRejected,
		NotifiesSent: a.NotifiesSent - b.NotifiesSent, ByesReceived: a.ByesReceived - b.ByesReceived, ByesSent: a.ByesSent - b.ByesSent,
	}
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// sortedFailures lists failure reasons, most frequent first.
func sortedFailures(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	return keys
}

// writeHeapProfile writes the allocation profile (go tool pprof
// -sample_index=alloc_space shows what the run allocated).
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		return fmt.Errorf("memory profile: %w", err)
	}
	return nil
}
