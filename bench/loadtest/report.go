package loadtest

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/clicktocall/clicktocall/bench/phone"
	"github.com/clicktocall/clicktocall/bench/stats"
)

// WriteReport prints the result as tables.
func WriteReport(w io.Writer, res *Result) {
	c := res.Calls
	fmt.Fprintf(w, "\nclicktocall bench: %s mode over %s %s (%d connections), phones on %s (%d initiator, %d destination), mix %s",
		c.Mode, strings.ToUpper(res.Target.Frontend), res.Target.Addr, c.Conns, strings.ToUpper(c.SIPTransport),
		c.Initiators, c.Destinations, c.Mix)
	if c.Ring {
		fmt.Fprint(w, ", phones ring")
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "machine: %d CPUs, %s, load average %s at the start, %s at the end\n",
		res.Machine.CPUs, res.Machine.GoVersion, res.Machine.LoadAvgStart, res.Machine.LoadAvgEnd)
	if res.Target.Started {
		where := "a child process"
		if res.Target.InProcess {
			where = "this process (CPU and RSS are the whole process's: server, phones and load generator)"
		}
		fmt.Fprintf(w, "server: started by the bench in %s, log level %s", where, res.Target.LogLevel)
		if len(res.Target.Env) > 0 {
			fmt.Fprintf(w, ", environment %s", strings.Join(res.Target.Env, " "))
		}
		fmt.Fprintln(w)
	}
	if res.Search != nil {
		writeSearch(w, res)
	}
	for i, t := range res.Trials {
		if !detailed(res, t) {
			continue
		}
		fmt.Fprintf(w, "\ntrial %d: %g calls/s for %v", i+1, t.Rate, time.Duration(t.DurationS*float64(time.Second)))
		if t.Side != "" {
			fmt.Fprintf(w, ", %s server (pid %d)", t.Side, t.ServerPID)
		}
		fmt.Fprintln(w)
		writeTrial(w, t)
	}
	if res.AB != nil {
		writeAB(w, res)
	}
	for _, p := range res.Problems {
		fmt.Fprintln(w, "problem:", p)
	}
}

// detailed says whether the report details trial t beyond its row in a
// table: every trial of a fixed-rate run; a search's best one; those of a
// fixed-rate A/B run that failed or had errors; the best of each side of an
// A/B search.
func detailed(res *Result, t *Trial) bool {
	switch {
	case res.AB != nil && res.AB.Search != nil:
		best := res.AB.Search.Baseline.Best
		if t.Side == sideCandidate {
			best = res.AB.Search.Candidate.Best
		}
		return t.Pass && t.Rate == best
	case res.AB != nil:
		return !t.Pass || len(t.Errors) > 0
	case res.Search != nil:
		return t.Pass && t.Rate == res.Search.Best
	}
	return true
}

func writeSearch(w io.Writer, res *Result) {
	s := res.Search
	fmt.Fprintf(w, "\nsearch for the highest rate with no failed call: start %g, factor %g, resolution %g, at most %d steps\n",
		s.Config.Start, s.Config.Factor, s.Config.Resolution, s.Config.MaxSteps)
	writeTrialRows(w, "step", res.Trials)
	fmt.Fprintf(w, "highest rate with no failed call: %g calls/s\n", s.Best)
}

// writeTrialRows prints trials one a row, numbered in a column named
// first, with the side of each in an A/B run.
func writeTrialRows(w io.Writer, first string, trials []*Trial) {
	sides := len(trials) > 0 && trials[0].Side != ""
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	side := func(s string) string { // a column only in A/B runs
		if sides {
			return s + "\t"
		}
		return ""
	}
	fmt.Fprintf(tw, "%s\t%srate/s\tresult\tok\tfailed\tachieved/s\tp99 INVITE\tp99 final\tserver µs/call\tserver RSS MiB\t\n", first, side("side"))
	for i, t := range trials {
		cpu, rss := "-", "-"
		if t.Server != nil {
			cpu, rss = fmt.Sprintf("%.0f", t.Server.CPUPerCallUS), fmt.Sprintf("%.0f", t.Server.PeakRSSMiB)
		}
		fmt.Fprintf(tw, "%d\t%s%g\t%s\t%d\t%d\t%.0f\t%s\t%s\t%s\t%s\t\n", i+1, side(t.Side), t.Rate, passWord(t.Pass), t.Succeeded, t.Failed,
			t.AchievedRate, ms(t.Latency.Invite.P99), ms(t.Latency.Final.P99), cpu, rss)
	}
	tw.Flush()
}

func writeTrial(w io.Writer, t *Trial) {
	fmt.Fprintf(w, "  calls      %d sent of %d, %d ok, %d failed", t.Sent, t.Offered, t.Succeeded, t.Failed)
	if t.Refused > 0 {
		fmt.Fprintf(w, " (%d admitted and failed, %d refused)", t.Failed-t.Refused, t.Refused)
	}
	fmt.Fprintf(w, ": %s; %.1f ok calls/s over %.1fs of sending, drained in %.1fs\n",
		passWord(t.Pass), t.AchievedRate, t.SendS, t.DrainS)
	if t.Refused > 0 {
		var by []string
		for _, why := range sortedFailures(t.Refusals) {
			by = append(by, fmt.Sprintf("%d× %s", t.Refusals[why], why))
		}
		fmt.Fprintf(w, "  refused    %.1f %% of the requests sent (%s); %d without a retry-after\n",
			100*float64(t.Refused)/float64(max(t.Sent, 1)), strings.Join(by, ", "), t.NoRetryAfter)
	}
	if t.Interrupted {
		fmt.Fprintln(w, "  interrupted")
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "  latency from the request to\tcount\tp50\tp90\tp99\tmax\t")
	row := func(name string, s stats.Summary) {
		if s.Count == 0 {
			return
		}
		fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\t%s\t%s\t\n", name, s.Count, ms(s.P50), ms(s.P90), ms(s.P99), ms(s.Max))
	}
	row("initiator INVITE (phone)", t.Latency.Invite)
	row("initiator answer", t.Latency.Answer)
	row("final result", t.Latency.Final)
	row("connected (phones)", t.Latency.Connected)
	row("refusal", t.Latency.Refusal)
	tw.Flush()
	if u := t.Server; u != nil {
		fmt.Fprintf(w, "  server     %.2f s CPU = %.2f cores, %.0f µs and %.1f context switches per ok call; RSS peak %.0f MiB, end %.0f MiB (lifetime peak %.0f MiB)\n",
			u.CPUS, u.Cores, u.CPUPerCallUS, u.SwitchesPerCall, u.PeakRSSMiB, u.EndRSSMiB, u.LifePeakMiB)
	}
	if x := t.ServerSIP; x != nil {
		fmt.Fprintf(w, "  server SIP %d messages sent, %d received; %d retransmissions (%.2f %% of what it sent); %d requests refused for overload\n",
			x.Sent, x.Received, x.Retransmissions, x.RetransmittedPct, x.OverloadRefusals)
	}
	if s := t.RSSSlope; s != nil {
		fmt.Fprintf(w, "  soak       server RSS slope %s; %d minute lines\n", s, len(t.Minutes))
	}
	if u := t.Bench; u != nil {
		fmt.Fprintf(w, "  bench      %.2f s CPU = %.2f cores (its phones and load generator); RSS peak %.0f MiB\n", u.CPUS, u.Cores, u.PeakRSSMiB)
	}
	fmt.Fprintf(w, "  generator  most behind schedule %s; load average at the end %s; UDP datagrams dropped (full receive buffers, whole machine) %d\n",
		ms(time.Duration(t.PacerLagMaxS*float64(time.Second))), t.LoadAvgEnd, t.UDPDrops)
	i, d := t.Initiators, t.Destinations
	if i.CallsReceived == 0 && d.CallsReceived == 0 {
		fmt.Fprintln(w, "  phones     none of the bench's own phones took a call (external phones are judged by the XML results)")
	} else {
		writePhones(w, i, d)
	}
	for _, why := range sortedFailures(t.Failures) {
		fmt.Fprintf(w, "  failure    %d× %s\n", t.Failures[why], why)
	}
	for _, e := range t.Errors {
		fmt.Fprintf(w, "  error      %s\n", e)
	}
}

func writePhones(w io.Writer, i, d phone.Stats) {
	fmt.Fprintf(w, "  phones     initiators: %d INVITEs, %d answered, %d rejected, %d cancelled, %d REFERs accepted, %d refused, %d NOTIFYs, %d re-INVITEs, %d BYEs in\n",
		i.CallsReceived, i.Answered, i.Rejected, i.Cancelled, i.RefersAccepted, i.RefersRejected, i.NotifiesSent, i.Reinvites, i.ByesReceived)
	fmt.Fprintf(w, "             destinations: %d INVITEs, %d answered, %d ACKed, %d BYEs out\n", d.CallsReceived, d.Answered, d.Confirmed, d.ByesSent)
}

func ms(d time.Duration) string {
	switch {
	case d == 0:
		return "-"
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	case d < 10*time.Second:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.1fs", d.Seconds())
}
