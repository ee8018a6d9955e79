package main

// Running a documented command: bash in a process group of its own, its
// output in files (so background jobs it starts cannot hold the test), a
// deadline, and an optional condition on the output that ends it early
// (for commands that run until interrupted, like a server or openssl
// s_client -quiet).

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// shellRun is the outcome of a documented command.
type shellRun struct {
	command        string
	stdout, stderr string
	code           int  // exit status; -1 when stopped
	stopped        bool // ended by its until condition
}

func (r shellRun) String() string {
	return fmt.Sprintf("%s\nexit status %d\nstdout:\n%s\nstderr:\n%s", r.command, r.code, r.stdout, r.stderr)
}

// runOpts say how a documented command runs.
type runOpts struct {
	dir     string   // working directory, default the repository root
	env     []string // added to the environment
	stdin   string
	timeout time.Duration // default 30 s; reaching it fails the test
	// until, when set, is called with stdout and stderr as they grow; once
	// it returns true the command gets SIGTERM (then SIGKILL after 5 s).
	until func(stdout, stderr string) bool
}

// docProc is a documented command running.
type docProc struct {
	t                *testing.T
	cmd              *exec.Cmd
	outPath, errPath string
	exited           chan struct{}
	waitErr          error
}

// startDoc starts a documented command with bash. The binary under test is
// first on PATH as clicktocall.
func startDoc(t *testing.T, command string, o runOpts) *docProc {
	t.Helper()
	tmp := t.TempDir()
	p := &docProc{t: t, outPath: filepath.Join(tmp, "stdout"), errPath: filepath.Join(tmp, "stderr"), exited: make(chan struct{})}
	stdout, err := os.Create(p.outPath)
	if err != nil {
		t.Fatal(err)
	}
	defer stdout.Close()
	stderr, err := os.Create(p.errPath)
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()
	p.cmd = exec.Command("bash", "-c", command)
	p.cmd.Dir = o.dir
	if p.cmd.Dir == "" {
		p.cmd.Dir = filepath.Join("..", "..")
	}
	env := append(os.Environ(), "PATH="+filepath.Dir(binary(t))+string(os.PathListSeparator)+os.Getenv("PATH"))
	if raceEnabled {
		env = append(env, "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=100"))
	}
	p.cmd.Env = append(env, o.env...)
	p.cmd.Stdout, p.cmd.Stderr = stdout, stderr
	if o.stdin != "" {
		p.cmd.Stdin = strings.NewReader(o.stdin)
	}
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("%s: %v", command, err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	// Whatever happens, nothing the command started outlives the test.
	t.Cleanup(func() { p.signal(syscall.SIGKILL); <-p.exited })
	return p
}

// signal signals the command's process group: bash and its jobs.
func (p *docProc) signal(sig syscall.Signal) { _ = syscall.Kill(-p.cmd.Process.Pid, sig) }

func (p *docProc) output() (string, string) {
	out, _ := os.ReadFile(p.outPath)
	errOut, _ := os.ReadFile(p.errPath)
	return string(out), string(errOut)
}

// wait waits for the command to end (or until to hold, or the timeout)
// and returns its outcome. Background jobs it left are killed.
func (p *docProc) wait(o runOpts) shellRun {
	p.t.Helper()
	timeout := o.timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	deadline := time.After(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	r := shellRun{command: strings.Join(p.cmd.Args[2:], " "), code: -1}
wait:
	for {
		select {
		case <-p.exited:
			break wait
		case <-tick.C:
			if o.until != nil && o.until(p.output()) {
				r.stopped = true
				p.stop()
				break wait
			}
		case <-deadline:
			p.stop()
			r.stdout, r.stderr = p.output()
			p.t.Errorf("still running after %v; stopped: %s", timeout, r)
			return r
		}
	}
	p.signal(syscall.SIGKILL)
	r.stdout, r.stderr = p.output()
	var exit *exec.ExitError
	switch {
	case r.stopped:
	case p.waitErr == nil:
		r.code = 0
	case errors.As(p.waitErr, &exit):
		r.code = exit.ExitCode()
	default:
		p.t.Errorf("%s: %v", r.command, p.waitErr)
	}
	return r
}

// stop ends the command: SIGTERM, then SIGKILL after 5 s.
func (p *docProc) stop() {
	p.signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		p.signal(syscall.SIGKILL)
		<-p.exited
	}
}

// runDoc runs a documented command to its end and returns its outcome.
func runDoc(t *testing.T, command string, o runOpts) shellRun {
	t.Helper()
	return startDoc(t, command, o).wait(o)
}

// mustRun runs a documented command and fails the test unless it exits 0.
func mustRun(t *testing.T, command string, o runOpts) shellRun {
	t.Helper()
	r := runDoc(t, command, o)
	if r.code != 0 && !r.stopped {
		t.Errorf("failed: %s", r)
	}
	return r
}
