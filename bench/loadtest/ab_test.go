package loadtest

import (
	"encoding/json"
	"io"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clicktocall/clicktocall/bench/stats"
)

func TestABOrderAlternatesBaselineFirst(t *testing.T) {
	cases := map[int]string{
		1: "baseline candidate",
		3: "baseline candidate baseline candidate baseline candidate",
	}
	for rounds, want := range cases {
		if got := strings.Join(abOrder(rounds), " "); got != want {
			t.Errorf("abOrder(%d) = %s, want %s", rounds, got, want)
		}
	}
}

func TestMedianOfOddAndEvenCounts(t *testing.T) {
	cases := []struct {
		xs   []float64
		want float64
		ok   bool
	}{
		{nil, 0, false},
		{[]float64{7}, 7, true},
		{[]float64{9, 1, 4}, 4, true},        // not the mean, 4.67
		{[]float64{1, 100, 2, 3}, 2.5, true}, // the two middle ones
		{[]float64{5, 5, 1, 5, 1}, 5, true},
	}
	for _, c := range cases {
		xs := append([]float64(nil), c.xs...)
		got, ok := median(xs)
		if got != c.want || ok != c.ok {
			t.Errorf("median(%v) = %v, %v; want %v, %v", c.xs, got, ok, c.want, c.ok)
		}
		for i := range xs {
			if xs[i] != c.xs[i] {
				t.Errorf("median reordered its argument: %v", xs)
			}
		}
	}
}

// abTrialOf is a trial of side with the figures an A/B run compares.
func abTrialOf(side string, cpuUS, rssMiB float64, inviteP99, finalP99 time.Duration, okPerS float64, failed int) *Trial {
	t := &Trial{Side: side, Succeeded: 100, Failed: failed, AchievedRate: okPerS,
		Server: &Usage{CPUPerCallUS: cpuUS, SwitchesPerCall: cpuUS / 20, PeakRSSMiB: rssMiB}}
	if inviteP99 > 0 {
		t.Latency.Invite = stats.Summary{Count: 100, P99: inviteP99}
	}
	t.Latency.Final = stats.Summary{Count: 100, P99: finalP99}
	return t
}

func TestCompareTakesEachSidesMedianAndTheirRatio(t *testing.T) {
	ms := time.Millisecond
	trials := []*Trial{
		abTrialOf(sideBaseline, 500, 300, 8*ms, 20*ms, 1000, 0),
		abTrialOf(sideCandidate, 260, 200, 0, 30*ms, 990, 4),
		abTrialOf(sideBaseline, 600, 400, 2*ms, 24*ms, 980, 2),
		abTrialOf(sideCandidate, 250, 100, 0, 10*ms, 1000, 0),
		abTrialOf(sideBaseline, 400, 350, 4*ms, 100*ms, 1000, 0),
		abTrialOf(sideCandidate, 900, 150, 0, 12*ms, 995, 6),
	}
	// A trial without server figures (nothing sampled) counts for the others only.
	noServer := abTrialOf(sideCandidate, 0, 0, 0, 16*ms, 1000, 0)
	noServer.Server = nil
	trials = append(trials, noServer)

	want := map[string][3]*float64{ // baseline median, candidate median, ratio
		"server_cpu_per_ok_call_us":   {f(500), f(260), f(260.0 / 500)},
		"server_switches_per_ok_call": {f(25), f(13), f(13.0 / 25)},
		"server_peak_rss_mib":         {f(350), f(150), f(150.0 / 350)},
		"p99_to_initiator_invite_ms":  {f(4), nil, nil}, // the candidate's phones were external, say
		"p99_to_final_ms":             {f(24), f(14), f(14.0 / 24)},
		"ok_calls_per_s":              {f(1000), f(997.5), f(997.5 / 1000)},
		"failed_calls":                {f(0), f(2), nil}, // no ratio to a baseline of 0
	}
	figures := compare(trials)
	if len(figures) != len(want) {
		t.Fatalf("%d figures, want %d: %+v", len(figures), len(want), figures)
	}
	for _, fig := range figures {
		w, ok := want[fig.Key]
		if !ok {
			t.Errorf("unexpected figure %q", fig.Key)
			continue
		}
		for i, got := range []*float64{fig.Baseline, fig.Candidate, fig.Ratio} {
			if !sameFloat(got, w[i]) {
				t.Errorf("%s: %s = %s, want %s", fig.Key, []string{"baseline median", "candidate median", "ratio"}[i], show(got), show(w[i]))
			}
		}
	}
}

func f(v float64) *float64 { return &v }

func sameFloat(a, b *float64) bool {
	if a == nil || b == nil {
		return a == b
	}
	return math.Abs(*a-*b) < 1e-9
}

func show(v *float64) string {
	if v == nil {
		return "none"
	}
	b, _ := json.Marshal(*v)
	return string(b)
}

// abRun runs the bench with args against fake server processes started
// through the links in dir, judging calls by their XML results alone.
func abRun(t *testing.T, dir, record string, args ...string) (*Result, error) {
	t.Helper()
	args = append([]string{"-start-server", "-baseline-bin", filepath.Join(dir, sideBaseline),
		"-server-bin", filepath.Join(dir, sideCandidate), "-server-env", fakeServerEnv + "=" + record,
		"-server-env", "GORACE=atexit_sleep_ms=0", // a -race fake server would wait a second to exit
		"-settle", "0", "-conns", "2", "-q"}, args...)
	o, err := parseOptions(args, io.Discard, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	o.noPhones = true
	return Run(t.Context(), o, Hooks{}, io.Discard)
}

// Every trial runs on a server process of its own, the two binaries take
// turns baseline first on the same config, and the comparison takes the
// median of each side's trials, not their mean.
func TestABRunAlternatesFreshServersAndComparesMedians(t *testing.T) {
	dir, record := fakeServers(t)
	res, err := abRun(t, dir, record, "-rate", "100", "-duration", "300ms", "-ab-rounds", "3",
		"-server-env", "LOADTEST_FAKE_FAILS_baseline=1,4,1", "-server-env", "LOADTEST_FAKE_FAILS_candidate=3,9,2")
	if err != nil {
		t.Fatal(err)
	}

	starts := fakeServerStarts(t, record)
	want := "baseline candidate baseline candidate baseline candidate"
	var names []string
	pids := map[string]bool{}
	for _, s := range starts {
		names = append(names, s.name)
		pids[s.pid] = true
		if s.config != starts[0].config {
			t.Errorf("server %s %s ran on %s, the first on %s", s.name, s.pid, s.config, starts[0].config)
		}
	}
	if got := strings.Join(names, " "); got != want || len(pids) != len(starts) {
		t.Errorf("servers started: %s with %d pids; want %s, each its own process", got, len(pids), want)
	}

	var sides []string
	var failed []int
	for i, tr := range res.Trials {
		sides = append(sides, tr.Side)
		failed = append(failed, tr.Failed)
		if i < len(starts) && starts[i].pid != strconv.Itoa(tr.ServerPID) {
			t.Errorf("trial %d says server pid %d, the fake server started %s", i+1, tr.ServerPID, starts[i].pid)
		}
		if tr.Sent != 30 || tr.Server == nil {
			t.Errorf("trial %d: %d sent, server figures %+v", i+1, tr.Sent, tr.Server)
		}
	}
	if got := strings.Join(sides, " "); got != want {
		t.Errorf("trials ran on %s, want %s", got, want)
	}
	if got, wantFailed := failed, []int{1, 3, 4, 9, 1, 2}; !slices.Equal(got, wantFailed) {
		t.Errorf("failed calls by trial %v, want %v", got, wantFailed)
	}

	byKey := map[string]Figure{}
	for _, fig := range res.AB.Figures {
		byKey[fig.Key] = fig
	}
	fails := byKey["failed_calls"]
	if !sameFloat(fails.Baseline, f(1)) || !sameFloat(fails.Candidate, f(3)) || !sameFloat(fails.Ratio, f(3)) {
		t.Errorf("failed calls: baseline %s, candidate %s, ratio %s; want the medians 1 and 3, ratio 3",
			show(fails.Baseline), show(fails.Candidate), show(fails.Ratio))
	}
	// The fake servers' CPU time may well be 0 clock ticks: no ratio then.
	if fig := byKey["server_cpu_per_ok_call_us"]; fig.Baseline == nil || fig.Candidate == nil {
		t.Errorf("no server CPU compared: %+v", fig)
	}
	if fig := byKey["p99_to_initiator_invite_ms"]; fig.Baseline != nil || fig.Ratio != nil {
		t.Errorf("an INVITE latency with no phone to see it: %+v", fig)
	}
	if res.AB.Rounds != 3 || abPassed(res) {
		t.Errorf("rounds %d, passed %v; want 3 rounds and a failed run", res.AB.Rounds, abPassed(res))
	}

	var report strings.Builder
	WriteReport(&report, res)
	for _, want := range []string{"A/B: 3 trials of each of two server binaries, alternating, baseline first",
		"failed calls         1          3               3.000", "trial 2: 100 calls/s for 300ms, candidate server (pid "} {
		if !strings.Contains(report.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, report.String())
		}
	}
	raw, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `"key":"failed_calls","name":"failed calls","baseline_median":1,"candidate_median":3,"ratio":3}`) {
		t.Errorf("JSON lacks the failed calls figure: %s", raw)
	}
}

func TestABRunPassesWhenEveryTrialPasses(t *testing.T) {
	dir, record := fakeServers(t)
	res, err := abRun(t, dir, record, "-rate", "100", "-duration", "200ms", "-ab-rounds", "1")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Trials) != 2 || !abPassed(res) {
		t.Errorf("%d trials, passed %v; want 2 trials that passed", len(res.Trials), abPassed(res))
	}
}

// Each binary is searched, their steps taking turns baseline first while
// both go on. A fake server refuses every call after the first 40 (or 80)
// of its life, so at 200 ms a step it passes up to 200 (or 400) calls/s,
// which only holds if every step has a server of its own.
func TestABSearchAlternatesTheTwoSearches(t *testing.T) {
	dir, record := fakeServers(t)
	res, err := abRun(t, dir, record, "-search", "-duration", "200ms", "-search-start", "100", "-search-factor", "2",
		"-search-resolution", "50", "-search-steps", "8",
		"-server-env", "LOADTEST_FAKE_CAPACITY_baseline=40", "-server-env", "LOADTEST_FAKE_CAPACITY_candidate=80")
	if err != nil {
		t.Fatal(err)
	}
	s := res.AB.Search
	if s == nil {
		t.Fatal("no A/B search result")
	}
	// baseline: 100 200 400x 300x 250x -> 200; candidate: 100 200 400 800x 600x 500x 450x -> 400
	var sides []string
	for _, tr := range res.Trials {
		sides = append(sides, tr.Side)
	}
	wantSides := "baseline candidate baseline candidate baseline candidate baseline candidate baseline candidate candidate candidate"
	if got := strings.Join(sides, " "); got != wantSides {
		t.Errorf("trials ran on\n%s\nwant\n%s", got, wantSides)
	}
	if s.Baseline.Best != 200 || s.Candidate.Best != 400 || !sameFloat(s.Ratio, f(2)) {
		t.Errorf("best rates: baseline %g, candidate %g, ratio %s; want 200, 400, 2", s.Baseline.Best, s.Candidate.Best, show(s.Ratio))
	}
	if len(s.Baseline.Steps) != 5 || len(s.Candidate.Steps) != 7 || len(fakeServerStarts(t, record)) != 12 {
		t.Errorf("%d baseline and %d candidate steps, %d servers started; want 5, 7 and 12",
			len(s.Baseline.Steps), len(s.Candidate.Steps), len(fakeServerStarts(t, record)))
	}
	if !abPassed(res) {
		t.Error("an A/B search where both binaries passed some rate did not pass")
	}
	var report strings.Builder
	WriteReport(&report, res)
	if want := "highest rate with no failed call: baseline 200 calls/s, candidate 400 calls/s; candidate/baseline 2.000"; !strings.Contains(report.String(), want) {
		t.Errorf("report lacks %q:\n%s", want, report.String())
	}
}

func TestABFlagsAreChecked(t *testing.T) {
	dir, _ := fakeServers(t)
	bin := filepath.Join(dir, sideBaseline)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-xml", "127.0.0.1:1", "-baseline-bin", bin}, "-baseline-bin needs -start-server"},
		{[]string{"-start-server", "-baseline-bin", filepath.Join(dir, "none")}, "-baseline-bin"},
		{[]string{"-start-server", "-baseline-bin", bin, "-ab-rounds", "0"}, "-ab-rounds 0: at least 1"},
		{[]string{"-start-server", "-ab-rounds", "2"}, "-ab-rounds goes with -baseline-bin"},
		{[]string{"-start-server", "-baseline-bin", bin, "-search", "-ab-rounds", "2"}, "-ab-rounds does not go with -search"},
	} {
		_, err := parseOptions(c.args, io.Discard, Hooks{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want one saying %q", c.args, err, c.want)
		}
	}
	if _, err := parseOptions([]string{"-start-server", "-baseline-bin", bin, "-search"}, io.Discard, Hooks{}); err != nil {
		t.Errorf("an A/B search: %v", err)
	}
}
