package loadtest

import (
	"errors"
	"fmt"
	"io"
	"iter"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/clicktocall/clicktocall/bench/procstat"
)

// A/B mode (-baseline-bin) runs the same trial against two server
// binaries, a baseline and a candidate, alternating them so that a machine
// getting busier or quieter weighs on both alike, and starting a fresh
// server process for every trial so that no trial inherits another's heap.
// Both binaries get the same generated config file; the phones, external
// or the bench's own, serve every trial.

// The sides of an A/B run.
const (
	sideBaseline  = "baseline"
	sideCandidate = "candidate"
)

// abOrderText says in what order an A/B run takes its trials.
const abOrderText = "alternating, baseline first: baseline, candidate, baseline, candidate, ..."

// abOrder is the side of each trial of a fixed-rate A/B run of rounds
// trials per side: baseline, candidate, baseline, candidate, ...
func abOrder(rounds int) []string {
	order := make([]string, 0, 2*rounds)
	for range rounds {
		order = append(order, sideBaseline, sideCandidate)
	}
	return order
}

// Comparison is the outcome of an A/B run.
type Comparison struct {
	BaselineBin  string `json:"baseline_bin"`
	CandidateBin string `json:"candidate_bin"`
	Order        string `json:"order"`
	Rounds       int    `json:"rounds,omitempty"` // trials of each binary (fixed-rate runs)
	// Figures are the medians of each side's trials and their ratio
	// (fixed-rate runs).
	Figures []Figure `json:"figures,omitempty"`
	// Search is the highest passing rate of each side (-search).
	Search *ABSearch `json:"search,omitempty"`
}

// Figure is one measure of an A/B run: its median over the trials of each
// side and the candidate's median divided by the baseline's. A median is
// nil when no trial of its side measured the figure (no server samples,
// no phone of the bench's own to see the INVITE); the ratio is nil then,
// and when the baseline's median is 0.
type Figure struct {
	Key       string   `json:"key"`
	Name      string   `json:"name"`
	Baseline  *float64 `json:"baseline_median"`
	Candidate *float64 `json:"candidate_median"`
	Ratio     *float64 `json:"ratio"`
}

// ABSearch is an A/B search: one search of each binary, their steps
// alternating, and the ratio of their highest passing rates.
type ABSearch struct {
	Baseline  *Searched `json:"baseline"`
	Candidate *Searched `json:"candidate"`
	Ratio     *float64  `json:"best_rate_ratio"` // candidate/baseline; nil when the baseline passed no rate
}

// abFigures are the figures an A/B run compares, each read from a trial
// (false: the trial did not measure it).
var abFigures = []struct {
	key, name, format string
	of                func(*Trial) (float64, bool)
}{
	{"server_cpu_per_ok_call_us", "server CPU per ok call (µs)", "%.0f", func(t *Trial) (float64, bool) {
		if t.Server == nil || t.Succeeded == 0 {
			return 0, false
		}
		return t.Server.CPUPerCallUS, true
	}},
	{"server_switches_per_ok_call", "server context switches per ok call", "%.1f", func(t *Trial) (float64, bool) {
		if t.Server == nil || t.Succeeded == 0 || t.Server.SwitchesPerCall == 0 {
			return 0, false
		}
		return t.Server.SwitchesPerCall, true
	}},
	{"server_peak_rss_mib", "server peak RSS (MiB)", "%.0f", func(t *Trial) (float64, bool) {
		if t.Server == nil {
			return 0, false
		}
		return t.Server.PeakRSSMiB, true
	}},
	{"p99_to_initiator_invite_ms", "p99 to the initiator INVITE (ms)", "%.2f", func(t *Trial) (float64, bool) {
		return durationMS(t.Latency.Invite.P99), t.Latency.Invite.Count > 0
	}},
	{"p99_to_final_ms", "p99 to the final (ms)", "%.2f", func(t *Trial) (float64, bool) {
		return durationMS(t.Latency.Final.P99), t.Latency.Final.Count > 0
	}},
	{"ok_calls_per_s", "ok calls/s", "%.1f", func(t *Trial) (float64, bool) { return t.AchievedRate, true }},
	{"failed_calls", "failed calls", "%g", func(t *Trial) (float64, bool) { return float64(t.Failed), true }},
}

func durationMS(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// compare takes the median of every figure over each side's trials.
func compare(trials []*Trial) []Figure {
	figures := make([]Figure, 0, len(abFigures))
	for _, f := range abFigures {
		var base, cand []float64
		for _, t := range trials {
			v, ok := f.of(t)
			switch {
			case !ok:
			case t.Side == sideBaseline:
				base = append(base, v)
			case t.Side == sideCandidate:
				cand = append(cand, v)
			}
		}
		fig := Figure{Key: f.key, Name: f.name}
		if m, ok := median(base); ok {
			fig.Baseline = &m
		}
		if m, ok := median(cand); ok {
			fig.Candidate = &m
		}
		fig.Ratio = ratio(fig.Candidate, fig.Baseline)
		figures = append(figures, fig)
	}
	return figures
}

// median is the middle value of xs, or the mean of the two middle ones
// when there is an even number; false when xs is empty.
func median(xs []float64) (float64, bool) {
	if len(xs) == 0 {
		return 0, false
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2], true
	}
	return (s[n/2-1] + s[n/2]) / 2, true
}

// ratio is a/b, or nil when either is missing or b is 0.
func ratio(a, b *float64) *float64 {
	if a == nil || b == nil || *b == 0 {
		return nil
	}
	r := *a / *b
	return &r
}

// abServers is what the servers of an A/B run share: one config file (so
// both binaries run on the same settings and ports, new ports only when a
// start found one taken) and the two binaries.
type abServers struct {
	files   *serverFiles
	bins    map[string]string // by side
	started int
}

// prepareAB writes the run's server config and finds both binaries,
// building the candidate once if it has to.
func prepareAB(o *Options, hooks Hooks, progress io.Writer) (*abServers, error) {
	files, err := writeServerConfig(o)
	if err != nil {
		return nil, err
	}
	candidate, err := serverBinary(o, hooks, files.dir, progress)
	if err != nil {
		files.remove(o.KeepServerFiles)
		return nil, err
	}
	return &abServers{files: files, bins: map[string]string{sideBaseline: o.BaselineBin, sideCandidate: candidate}}, nil
}

// abTrial starts a server of side's binary, runs one trial at rate against
// it and stops it.
func (r *runner) abTrial(res *Result, s *abServers, side string, rate float64) (*Trial, error) {
	s.started++
	bin := s.bins[side]
	tgt, err := startOnFreePorts(r.o, bin, s.files, fmt.Sprintf("server-%02d-%s.out", s.started, side))
	if err != nil {
		return nil, fmt.Errorf("%s server %s: %w", side, bin, err)
	}
	fmt.Fprintf(r.progress, "%s server started: pid %d\n", side, tgt.pid)
	stop := func() {
		if err := tgt.stop(); err != nil {
			res.Problems = append(res.Problems, fmt.Sprintf("stopping the %s server (pid %d): %v", side, tgt.pid, err))
		}
	}
	sampler, err := procstat.Start(tgt.pid, 200*time.Millisecond)
	if err != nil {
		stop()
		return nil, fmt.Errorf("sampling the %s server (pid %d): %w", side, tgt.pid, err)
	}
	r.tgt, r.server = tgt, sampler
	t, err := r.trial(rate)
	sampler.Stop()
	r.server = nil
	if r.o.InitiatorAt != "" {
		time.Sleep(time.Second) // external phones: let the last calls hang up, as Run does
	}
	stop()
	if t != nil {
		t.Side, t.ServerPID = side, tgt.pid
	}
	return t, err
}

// abFixed runs -ab-rounds trials of each binary at -rate, alternating.
func (r *runner) abFixed(res *Result, s *abServers) error {
	defer func() { res.AB.Figures = compare(res.Trials) }()
	order := abOrder(r.o.ABRounds)
	for i, side := range order {
		if err := r.settle(i); err != nil {
			return err
		}
		fmt.Fprintf(r.progress, "A/B trial %d of %d: %s\n", i+1, len(order), side)
		t, err := r.abTrial(res, s, side, r.o.Rate)
		if t != nil {
			res.Trials = append(res.Trials, t)
			fmt.Fprintf(r.progress, "A/B trial %d (%s): %s (%d ok, %d failed)\n", i+1, side, passWord(t.Pass), t.Succeeded, t.Failed)
		}
		if err != nil {
			return err
		}
		if t.Interrupted {
			return r.ctx.Err()
		}
	}
	return nil
}

// errSearchAbandoned ends a search whose run has stopped.
var errSearchAbandoned = errors.New("search abandoned")

// steppedSearch runs Search one step at a time, so that two searches can
// take turns: next gives the rate it wants tried (false once it has ended),
// and pass, set before the following next, says how the trial went.
type steppedSearch struct {
	side      string
	next      func() (float64, bool)
	stop      func()
	pass      bool
	tried     int
	searched  Searched
	searchErr error
}

func newSteppedSearch(side string, c SearchConfig) *steppedSearch {
	s := &steppedSearch{side: side, searched: Searched{Config: c}}
	s.next, s.stop = iter.Pull(func(yield func(float64) bool) {
		s.searched.Steps, s.searched.Best, s.searchErr = Search(c, func(rate float64) (bool, error) {
			if !yield(rate) {
				return false, errSearchAbandoned
			}
			return s.pass, nil
		})
	})
	return s
}

// abSearch searches each binary for its highest rate with no failed call,
// their steps alternating (baseline first) while both go on; a search that
// has ended leaves the other to finish alone.
func (r *runner) abSearch(res *Result, s *abServers) error {
	searches := []*steppedSearch{newSteppedSearch(sideBaseline, r.o.SearchConfig), newSteppedSearch(sideCandidate, r.o.SearchConfig)}
	defer func() {
		for _, ss := range searches {
			ss.stop()
		}
		base, cand := searches[0].searched, searches[1].searched
		res.AB.Search = &ABSearch{Baseline: &base, Candidate: &cand, Ratio: ratio(&cand.Best, &base.Best)}
	}()
	for active := len(searches); active > 0; {
		active = 0
		for _, ss := range searches {
			rate, ok := ss.next()
			if !ok {
				if ss.searchErr != nil {
					return fmt.Errorf("%s search: %w", ss.side, ss.searchErr)
				}
				continue
			}
			active++
			if err := r.settle(len(res.Trials)); err != nil {
				return err
			}
			t, err := r.abTrial(res, s, ss.side, rate)
			if t != nil {
				res.Trials = append(res.Trials, t)
				ss.tried++
				fmt.Fprintf(r.progress, "%s step %d: %g calls/s %s (%d ok, %d failed)\n", ss.side, ss.tried, rate, passWord(t.Pass), t.Succeeded, t.Failed)
			}
			if err == nil && t.Interrupted {
				err = r.ctx.Err()
			}
			if err != nil {
				return err
			}
			ss.pass = t.Pass
		}
	}
	return nil
}

// writeAB prints an A/B run: every trial in a row, then the comparison.
func writeAB(w io.Writer, res *Result) {
	ab := res.AB
	if len(res.Trials) == 0 {
		return // the error says why
	}
	if ab.Search != nil {
		fmt.Fprintf(w, "\nA/B search for the highest rate with no failed call, one search of each binary (%s): start %g, factor %g, resolution %g, at most %d steps each\n",
			ab.Order, ab.Search.Baseline.Config.Start, ab.Search.Baseline.Config.Factor, ab.Search.Baseline.Config.Resolution, ab.Search.Baseline.Config.MaxSteps)
	} else {
		trials := "trials"
		if ab.Rounds == 1 {
			trials = "trial"
		}
		fmt.Fprintf(w, "\nA/B: %d %s of each of two server binaries, %s; a fresh server process for each trial, all on one config\n", ab.Rounds, trials, ab.Order)
	}
	fmt.Fprintf(w, "  baseline   %s\n  candidate  %s\n\n", ab.BaselineBin, ab.CandidateBin)
	writeTrialRows(w, "trial", res.Trials)
	if s := ab.Search; s != nil {
		fmt.Fprintf(w, "highest rate with no failed call: baseline %g calls/s, candidate %g calls/s; candidate/baseline %s\n",
			s.Baseline.Best, s.Candidate.Best, ratioText(s.Ratio))
		return
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "median of each side's trials\tbaseline\tcandidate\tcandidate/baseline\t")
	for _, f := range ab.Figures {
		format := "%g"
		for _, af := range abFigures {
			if af.key == f.Key {
				format = af.format
			}
		}
		value := func(v *float64) string {
			if v == nil {
				return "-"
			}
			return fmt.Sprintf(format, *v)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", f.Name, value(f.Baseline), value(f.Candidate), ratioText(f.Ratio))
	}
	tw.Flush()
}

func ratioText(r *float64) string {
	if r == nil {
		return "-"
	}
	return fmt.Sprintf("%.3f", *r)
}

// abPassed says whether an A/B run passed: every trial of a fixed-rate
// run, or some rate of each binary's search.
func abPassed(res *Result) bool {
	if s := res.AB.Search; s != nil {
		return s.Baseline.Best > 0 && s.Candidate.Best > 0
	}
	for _, t := range res.Trials {
		if !t.Pass {
			return false
		}
	}
	return len(res.Trials) > 0
}
