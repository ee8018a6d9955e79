package procstat

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

func TestParseStatCountsFromTheLastParenthesis(t *testing.T) {
	// A command name with spaces and a ')' must not shift the fields.
	line := "4242 (we ird) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 3 0 100 1000 50\n"
	got, err := parseStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if want := 3250 * time.Millisecond; got != want {
		t.Errorf("cpu = %v, want %v (250+75 ticks)", got, want)
	}
	if _, err := parseStat([]byte("4242 (x) S 1 2")); err == nil {
		t.Error("short stat line: no error")
	}
	if _, err := parseStat([]byte("no parenthesis")); err == nil {
		t.Error("stat line without ')': no error")
	}
}

func TestParseStatusReadsRSSAndPeak(t *testing.T) {
	status := "Name:\tclicktocall\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\nThreads:\t9\n"
	rss, hwm := parseStatus([]byte(status))
	if rss != 100<<20 || hwm != 200<<20 {
		t.Errorf("rss %d hwm %d, want %d and %d", rss, hwm, 100<<20, 200<<20)
	}
}

func TestReadSeesAChildBurnCPU(t *testing.T) {
	cmd := exec.Command("sh", "-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; sleep 5")
	if err := cmd.Start(); err != nil {
		t.Skip("no sh:", err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	s, err := Start(cmd.Process.Pid, 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	deadline := time.Now().Add(5 * time.Second)
	for {
		u, peak := s.Now()
		if u.CPU > 0 && u.RSS > 0 && peak >= u.RSS && u.PeakRSS >= u.RSS {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no CPU or RSS seen for the child: %+v peak %d", u, peak)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := Read(0); err != nil {
		t.Errorf("Read(self): %v", err)
	}
	if _, err := Read(os.Getpid()); err != nil {
		t.Errorf("Read(own pid): %v", err)
	}
}

func TestParseSNMPReadsTheUDPLine(t *testing.T) {
	snmp := "Tcp: RtoAlgorithm RtoMin\nTcp: 1 200\n" +
		"Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors\n" +
		"Udp: 3033605 20430 52043 3106445 52040 0\n" +
		"UdpLite: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors\n" +
		"UdpLite: 0 0 0 0 0 0\n"
	u, err := parseSNMP([]byte(snmp))
	if err != nil {
		t.Fatal(err)
	}
	if u != (UDPErrors{InErrors: 52043, RcvbufErrors: 52040}) {
		t.Errorf("got %+v", u)
	}
	if _, err := parseSNMP([]byte("Tcp: a\nTcp: 1\n")); err == nil {
		t.Error("no Udp lines: no error")
	}
	if _, err := ReadUDPErrors(); err != nil {
		t.Errorf("ReadUDPErrors: %v", err)
	}
}

func TestParseSwitchesAddsBothKinds(t *testing.T) {
	status := "Name:\tclicktocall\nvoluntary_ctxt_switches:\t1200\nnonvoluntary_ctxt_switches:\t34\n"
	if got := parseSwitches([]byte(status)); got != 1234 {
		t.Errorf("parseSwitches = %d, want 1234", got)
	}
}

// A thread that sleeps leaves its CPU each time: the count over the
// process's threads grows.
func TestReadCountsContextSwitches(t *testing.T) {
	before, err := Read(0)
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		time.Sleep(time.Millisecond)
	}
	after, err := Read(0)
	if err != nil {
		t.Fatal(err)
	}
	if after.CtxSwitches-before.CtxSwitches < 10 {
		t.Errorf("context switches %d -> %d across 20 sleeps", before.CtxSwitches, after.CtxSwitches)
	}
}
