// Package procstat reads a Linux process's CPU time and memory from /proc,
// so the bench can report what a server costs per call without any help
// from the server. A Sampler polls a process in the background to catch the
// peak resident set size of a measurement window.
package procstat

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat; it
// is 100 on every Linux architecture Go supports.
const clockTicks = 100

// Usage is one reading of a process.
type Usage struct {
	CPU     time.Duration // user + system time since the process started
	RSS     int64         // resident set size now, bytes (VmRSS)
	PeakRSS int64         // highest resident set size in the process's life, bytes (VmHWM)
	// CtxSwitches counts the times the process's threads left a CPU,
	// voluntarily (to wait) or not, summed over its live threads: each is
	// a trip through the kernel's scheduler, so per call it shows how often
	// a server parks and wakes. Threads that have exited are not counted.
	CtxSwitches int64
}

// Read reads the usage of pid (0: this process).
func Read(pid int) (Usage, error) {
	dir := "/proc/self"
	if pid != 0 {
		dir = "/proc/" + strconv.Itoa(pid)
	}
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return Usage{}, fmt.Errorf("procstat: %w", err)
	}
	cpu, err := parseStat(stat)
	if err != nil {
		return Usage{}, fmt.Errorf("procstat: %s/stat: %w", dir, err)
	}
	status, err := os.ReadFile(dir + "/status")
	if err != nil {
		return Usage{}, fmt.Errorf("procstat: %w", err)
	}
	u := Usage{CPU: cpu}
	u.RSS, u.PeakRSS = parseStatus(status)
	u.CtxSwitches = ctxSwitches(dir)
	return u, nil
}

// ctxSwitches sums the context switches of the threads under dir (0 when
// they cannot be read).
func ctxSwitches(dir string) int64 {
	tasks, err := os.ReadDir(dir + "/task")
	if err != nil {
		return 0
	}
	var n int64
	for _, task := range tasks {
		b, err := os.ReadFile(dir + "/task/" + task.Name() + "/status")
		if err == nil {
			n += parseSwitches(b)
		}
	}
	return n
}

// parseSwitches returns voluntary_ctxt_switches + nonvoluntary_ctxt_switches
// from the text of a /proc status file.
func parseSwitches(b []byte) int64 {
	var n int64
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		key, val, ok := bytes.Cut(line, []byte(":"))
		if !ok || (string(key) != "voluntary_ctxt_switches" && string(key) != "nonvoluntary_ctxt_switches") {
			continue
		}
		if v, err := strconv.ParseInt(string(bytes.TrimSpace(val)), 10, 64); err == nil {
			n += v
		}
	}
	return n
}

// parseStat returns utime+stime from the text of /proc/PID/stat. The
// command name (field 2) is in parentheses and may hold spaces and
// parentheses, so fields are counted from the last ')'.
func parseStat(b []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("no ')' in %q", b)
	}
	f := bytes.Fields(b[i+1:])
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("%d fields after the command name, want at least 13", len(f))
	}
	utime, err1 := strconv.ParseInt(string(f[11]), 10, 64)
	stime, err2 := strconv.ParseInt(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bad utime/stime %q %q", f[11], f[12])
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// parseStatus returns VmRSS and VmHWM in bytes from /proc/PID/status (0
// when missing, as for a zombie).
func parseStatus(b []byte) (rss, hwm int64) {
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		key, val, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		var dst *int64
		switch string(key) {
		case "VmRSS":
			dst = &rss
		case "VmHWM":
			dst = &hwm
		default:
			continue
		}
		f := bytes.Fields(val)
		if len(f) >= 1 {
			if n, err := strconv.ParseInt(string(f[0]), 10, 64); err == nil {
				*dst = n * 1024 // the unit is always kB
			}
		}
	}
	return rss, hwm
}

// Sampler polls a process until Stop, remembering the highest RSS seen
// since the last Reset.
type Sampler struct {
	pid  int
	stop chan struct{}
	done chan struct{}

	mu      sync.Mutex
	last    Usage
	peak    int64
	lastErr error
}

// Start reads pid now (failing if it cannot) and then every interval.
func Start(pid int, interval time.Duration) (*Sampler, error) {
	u, err := Read(pid)
	if err != nil {
		return nil, err
	}
	s := &Sampler{pid: pid, stop: make(chan struct{}), done: make(chan struct{}), last: u, peak: u.RSS}
	go s.loop(interval)
	return s, nil
}

func (s *Sampler) loop(interval time.Duration) {
	defer close(s.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.sample()
		}
	}
}

func (s *Sampler) sample() Usage {
	u, err := Read(s.pid)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.lastErr = err
		return s.last
	}
	s.last = u
	s.peak = max(s.peak, u.RSS)
	return u
}

// Now reads the process at once and returns the reading and the highest
// RSS seen since the last Reset.
func (s *Sampler) Now() (u Usage, windowPeak int64) {
	u = s.sample()
	s.mu.Lock()
	defer s.mu.Unlock()
	return u, s.peak
}

// Reset starts a new window for the peak RSS.
func (s *Sampler) Reset() {
	u := s.sample()
	s.mu.Lock()
	s.peak = u.RSS
	s.mu.Unlock()
}

// Err is the last read error (the process exited, say), or nil.
func (s *Sampler) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastErr
}

// Stop ends the polling.
func (s *Sampler) Stop() {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	<-s.done
}

// UDPErrors are the machine's UDP receive error counters (/proc/net/snmp):
// datagrams dropped because a socket's receive buffer was full, and all
// receive errors. They count for every process, so compare readings taken
// around a run on an otherwise idle machine.
type UDPErrors struct {
	InErrors, RcvbufErrors uint64
}

// ReadUDPErrors reads the counters.
func ReadUDPErrors() (UDPErrors, error) {
	b, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		return UDPErrors{}, fmt.Errorf("procstat: %w", err)
	}
	return parseSNMP(b)
}

// parseSNMP finds the "Udp:" header line and the value line after it.
func parseSNMP(b []byte) (UDPErrors, error) {
	var names []string
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		f := strings.Fields(string(line))
		if len(f) == 0 || f[0] != "Udp:" {
			continue
		}
		if names == nil {
			names = f[1:]
			continue
		}
		var u UDPErrors
		for i, v := range f[1:] {
			if i >= len(names) {
				break
			}
			n, _ := strconv.ParseUint(v, 10, 64)
			switch names[i] {
			case "InErrors":
				u.InErrors = n
			case "RcvbufErrors":
				u.RcvbufErrors = n
			}
		}
		return u, nil
	}
	return UDPErrors{}, errors.New("procstat: no Udp lines in /proc/net/snmp")
}
