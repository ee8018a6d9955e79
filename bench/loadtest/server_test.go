package loadtest

import (
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// A server that finds a port picked for it taken in the meantime exits 1;
// the bench starts it again on new ports, up to startAttempts times, and
// then says why it gave up.
func TestAStartWhosePortWasTakenIsTriedOnNewPorts(t *testing.T) {
	for _, taken := range []int{startAttempts - 1, startAttempts} {
		t.Run(strconv.Itoa(taken)+" taken", func(t *testing.T) {
			dir, record := fakeServers(t)
			o, err := parseOptions([]string{"-start-server", "-server-bin", filepath.Join(dir, sideCandidate),
				"-server-env", fakeServerEnv + "=" + record, "-server-env", "GORACE=atexit_sleep_ms=0",
				"-server-env", "LOADTEST_FAKE_TAKEN_candidate=" + strconv.Itoa(taken),
				"-rate", "100", "-duration", "200ms", "-conns", "2", "-q"}, io.Discard, Hooks{})
			if err != nil {
				t.Fatal(err)
			}
			o.noPhones = true
			res, err := Run(t.Context(), o, Hooks{}, io.Discard)

			b, _ := os.ReadFile(record + ".taken")
			if n := strings.Count(string(b), "\n"); n != taken {
				t.Errorf("%d starts found their port taken, want %d", n, taken)
			}
			if taken == startAttempts {
				if err == nil || !strings.Contains(err.Error(), errPortTaken.Error()) || !strings.Contains(err.Error(), "address already in use") {
					t.Fatalf("after %d taken ports: error %v, want %q with the server's output", taken, err, errPortTaken)
				}
				if _, err := os.Stat(record); err == nil {
					t.Errorf("a fake server started: %s", record)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if starts := fakeServerStarts(t, record); len(starts) != 1 {
				t.Errorf("%d servers started, want 1", len(starts))
			}
			if len(res.Trials) != 1 || !res.Trials[0].Pass || res.Trials[0].Succeeded == 0 || len(res.Problems) != 0 {
				t.Errorf("trials %+v, problems %q; want one trial with ok calls", res.Trials, res.Problems)
			}
		})
	}
}

// An A/B trial whose server found its port taken runs on new ports.
func TestAnABTrialWhosePortWasTakenRunsOnNewPorts(t *testing.T) {
	dir, record := fakeServers(t)
	res, err := abRun(t, dir, record, "-rate", "100", "-duration", "200ms", "-ab-rounds", "1",
		"-server-env", "LOADTEST_FAKE_TAKEN_baseline=1")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Trials) != 2 || !abPassed(res) {
		t.Errorf("%d trials, passed %v; want 2 trials that passed", len(res.Trials), abPassed(res))
	}
	if b, _ := os.ReadFile(record + ".taken"); string(b) != sideBaseline+"\n" {
		t.Errorf("taken record %q, want the baseline's first start", b)
	}
}
