package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// benchJSON is the part of the bench's JSON output these tests read.
type benchJSON struct {
	Trials []struct {
		Sent, Succeeded, Failed int
		Pass                    bool
		Failures                map[string]int
		Latency                 struct {
			Invite struct{ Count int } `json:"to_initiator_invite"`
			Final  struct{ Count int } `json:"to_final"`
		}
		Server *struct {
			CPUS float64 `json:"cpu_s"`
		}
	}
}

// A short end-to-end bench run: the server in process, real phones, a mix
// of behaviours, every call judged by its XML results and the phones.
func TestBenchRunsShortTrialsAgainstTheServer(t *testing.T) {
	for _, mode := range []string{"refer", "anchored"} {
		t.Run(mode, func(t *testing.T) {
			jsonPath := filepath.Join(t.TempDir(), "bench.json")
			var out, errOut bytes.Buffer
			status := runBench([]string{"-start-server", "-inproc", "-mode", mode, "-rate", "40", "-duration", "1s",
				"-mix", "accept=2,refuse=1,busy=1", "-ring", "-conns", "2", "-drain", "20s", "-server-log-level", "WARNING",
				"-json", jsonPath}, &out, &errOut)
			if status != 0 {
				t.Fatalf("bench exited %d\nstdout:\n%s\nstderr:\n%s", status, out.String(), errOut.String())
			}
			raw, err := os.ReadFile(jsonPath)
			if err != nil {
				t.Fatal(err)
			}
			var res benchJSON
			if err := json.Unmarshal(raw, &res); err != nil {
				t.Fatal(err)
			}
			if len(res.Trials) != 1 {
				t.Fatalf("%d trials, want 1", len(res.Trials))
			}
			tr := res.Trials[0]
			if !tr.Pass || tr.Sent != 40 || tr.Succeeded != 40 || tr.Failed != 0 {
				t.Errorf("trial: %+v", tr)
			}
			if tr.Latency.Invite.Count != 40 || tr.Latency.Final.Count != 40 {
				t.Errorf("latency samples: %+v", tr.Latency)
			}
			if tr.Server == nil || tr.Server.CPUS <= 0 {
				t.Errorf("no server CPU sampled: %+v", tr.Server)
			}
			for _, want := range []string{"40 sent of 40, 40 ok, 0 failed: PASS", "initiator INVITE (phone)", "server "} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("report lacks %q:\n%s", want, out.String())
				}
			}
		})
	}
}

func TestBenchRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-rate", "10"}, // no target
		{"-start-server", "-mode", "sideways"},
		{"-start-server", "-mix", "accept=x"},
		{"-xml", "127.0.0.1:1", "-cpuprofile", "x.prof"},
		{"-start-server", "-inproc", "-baseline-bin", os.Args[0]}, // A/B needs a server process per trial
	} {
		var out, errOut bytes.Buffer
		if status := runBench(args, &out, &errOut); status != 2 {
			t.Errorf("bench %q exited %d, want 2; stderr %s", args, status, errOut.String())
		}
	}
}
