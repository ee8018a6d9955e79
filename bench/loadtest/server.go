package loadtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// serverConfig is the config.hcl of a server the bench starts: loopback
// only, the given ports, SIP URIs passed through untranslated. An A/B run
// (-baseline-bin) gives this same file to a binary built from an older
// commit, which refuses settings it does not know: it uses only settings
// every release has (all of them since the first config, 96e7227); a new
// one needs a way to leave it out for older binaries.
const serverConfig = `# written by the clicktocall bench
sip {
  ip_address   = "127.0.0.1"
  identity     = "sip:clicktocall@127.0.0.1"
  udp_tcp_port = %d
  ring_timeout = %q
}
http {
  address                = "127.0.0.1"
  port                   = %d
  max_connections_per_ip = 0
}
xml {
  address                = "127.0.0.1"
  port                   = %d
  max_connections_per_ip = 0
}
log {
  level = %q
  file  = %q
}
limits {
  max_active_calls = %d%s
}
translation {
  pattern = "^(sips?:.+)$"
  output  = "$1"
}
`

// serverFiles is a started server's temporary directory and config.
type serverFiles struct {
	dir, config, log string
	sip, http, xml   int
}

func writeServerConfig(o *Options) (*serverFiles, error) {
	dir, err := os.MkdirTemp("", "clicktocall-bench-")
	if err != nil {
		return nil, err
	}
	f := &serverFiles{dir: dir, config: filepath.Join(dir, "config.hcl"), log: filepath.Join(dir, "clicktocall.log")}
	if err := f.writeConfig(o); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return f, nil
}

// writeConfig picks free ports and writes the config on them, over any
// earlier one: a start that found a port taken tries again on new ones.
func (f *serverFiles) writeConfig(o *Options) error {
	var err error
	if f.sip, err = freeSIPPort(); err == nil {
		if f.http, err = freeTCPPort(); err == nil {
			f.xml, err = freeTCPPort()
		}
	}
	if err != nil {
		return fmt.Errorf("finding free ports for the server: %w", err)
	}
	limits := ""
	if o.ServerLimits != "" {
		// Only when asked: binaries older than these settings refuse them.
		limits = "\n  " + strings.ReplaceAll(strings.TrimSpace(o.ServerLimits), ";", "\n  ")
	}
	text := fmt.Sprintf(serverConfig, f.sip, o.RingTimeout.String(), f.http, f.xml, o.ServerLogLevel, f.log, o.ServerMaxCalls, limits)
	return os.WriteFile(f.config, []byte(text), 0o600)
}

// freeTCPPort asks the kernel for a free loopback port. The server binds it
// a moment later; on a busy machine another program could take it first
// (a client's ephemeral port is enough), and that start is then tried again
// on new ports (startOnFreePorts).
func freeTCPPort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// freeSIPPort finds a port free for both UDP and TCP.
func freeSIPPort() (int, error) {
	for range 20 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		pc.Close()
		if err == nil {
			ln.Close()
			return port, nil
		}
	}
	return 0, errors.New("no port free for both UDP and TCP")
}

// remove deletes the files unless keep.
func (f *serverFiles) remove(keep bool) {
	if !keep {
		os.RemoveAll(f.dir)
	}
}

// target is the server under test.
type target struct {
	xmlAddr, httpAddr string
	pid               int  // 0: unknown (no CPU/RSS figures)
	inProcess         bool // the server shares the bench's process
	stop              func() error
	logFile           string
}

// startServer starts a server for the bench: in this process through
// hooks.StartInProcess, or as a child process of the server binary. Its
// files go when it is stopped.
func startServer(o *Options, hooks Hooks, progress io.Writer) (*target, error) {
	files, err := writeServerConfig(o)
	if err != nil {
		return nil, err
	}
	var t *target
	if o.InProcess {
		t, err = startInProcess(files, hooks)
	} else {
		var bin string
		if bin, err = serverBinary(o, hooks, files.dir, progress); err == nil {
			t, err = startOnFreePorts(o, bin, files, "server.out")
		}
	}
	if err != nil {
		files.remove(o.KeepServerFiles)
		return nil, err
	}
	stop := t.stop
	t.stop = func() error { defer files.remove(o.KeepServerFiles); return stop() }
	return t, nil
}

// startInProcess runs the server on files' config in this process.
func startInProcess(files *serverFiles, hooks Hooks) (*target, error) {
	if hooks.StartInProcess == nil {
		return nil, errors.New("-inproc needs the clicktocall binary: run 'clicktocall bench -start-server -inproc'")
	}
	stop, err := hooks.StartInProcess(files.config)
	if err != nil {
		return nil, fmt.Errorf("starting the server in process: %w", err)
	}
	t := files.target()
	t.pid, t.inProcess, t.stop = os.Getpid(), true, stop
	if err := waitListening(t.xmlAddr, 10*time.Second, nil); err != nil {
		_ = stop()
		return nil, err
	}
	return t, nil
}

// target is the server these files configure, not yet started.
func (f *serverFiles) target() *target {
	return &target{
		xmlAddr:  net.JoinHostPort("127.0.0.1", strconv.Itoa(f.xml)),
		httpAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(f.http)),
		logFile:  f.log,
	}
}

// serverBinary is the binary -start-server runs: -server-bin, else this
// clicktocall, else one go build makes in dir.
func serverBinary(o *Options, hooks Hooks, dir string, progress io.Writer) (string, error) {
	if o.ServerBin != "" {
		return o.ServerBin, nil
	}
	if hooks.ServerBin != "" {
		return hooks.ServerBin, nil
	}
	bin := filepath.Join(dir, "clicktocall")
	fmt.Fprintf(progress, "building the server: go build -o %s ./cmd/clicktocall\n", bin)
	build := exec.Command("go", "build", "-o", bin, "github.com/clicktocall/clicktocall/cmd/clicktocall")
	build.Stdout, build.Stderr = progress, progress
	if err := build.Run(); err != nil {
		return "", fmt.Errorf("building the server (run from the clicktocall checkout, or pass -server-bin): %w", err)
	}
	return bin, nil
}

// errPortTaken is a start that failed because a port picked for the server
// was taken before the server bound it.
var errPortTaken = errors.New("a port picked for the server was taken")

// startAttempts is how often a start is tried, each on new ports, while
// it fails with errPortTaken.
const startAttempts = 3

// startOnFreePorts starts bin as startProcess does, picking new ports for
// files and trying again when one was taken in the meantime.
func startOnFreePorts(o *Options, bin string, files *serverFiles, outName string) (*target, error) {
	for attempt := 1; ; attempt++ {
		t, err := startProcess(bin, files, o.ServerEnv, outName)
		if err == nil || !errors.Is(err, errPortTaken) || attempt == startAttempts {
			return t, err
		}
		if err := files.writeConfig(o); err != nil {
			return nil, err
		}
	}
}

// startGrace is how long a server that answered on its ports but printed
// no ready line (binaries before 3 Dec 2026) must keep running to count as
// started: one whose later bind failed exits well within it.
const startGrace = 500 * time.Millisecond

// readyLine is what a server prints on stdout once it is up.
var readyLine = []byte(" ready in ")

// startProcess starts "bin serve" on files' config as a child process with
// env added to the bench's environment, its stdout and stderr going to
// outName in files' directory, and waits until it is up: its XML and HTTP
// ports answer and it printed its ready line (or, for binaries that print
// none, still runs startGrace later). Answering is not enough: a port
// picked for it may have been taken by another program's listener, and the
// server then exits.
func startProcess(bin string, files *serverFiles, env []string, outName string) (*target, error) {
	out, err := os.Create(filepath.Join(files.dir, outName))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve", "-config", files.config)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Dir = files.dir
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		out.Close()
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); out.Close(); close(exited) }()
	t := files.target()
	t.pid = cmd.Process.Pid
	t.stop = func() error {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
			if waitErr != nil {
				return fmt.Errorf("server exited: %w", waitErr)
			}
			return nil
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			return errors.New("server did not stop within 30s of SIGTERM; killed")
		}
	}
	err = waitListening(t.xmlAddr, 15*time.Second, exited)
	if err == nil {
		err = waitListening(t.httpAddr, 15*time.Second, exited)
	}
	if err == nil {
		if err = waitReady(out.Name(), exited); err == nil {
			return t, nil
		}
	}
	_ = t.stop()
	text, _ := os.ReadFile(out.Name())
	if bytes.Contains(text, []byte("address already in use")) {
		err = fmt.Errorf("%w: %w", errPortTaken, err)
	}
	return nil, fmt.Errorf("%w; server output:\n%s", err, text)
}

// waitReady waits until the server's output has its ready line or, if it
// prints none, startGrace has passed; an exit before then is an error.
func waitReady(outName string, exited <-chan struct{}) error {
	deadline := time.Now().Add(startGrace)
	for {
		select {
		case <-exited:
			return errors.New("server exited after its ports answered")
		default:
		}
		if b, _ := os.ReadFile(outName); bytes.Contains(b, readyLine) || time.Now().After(deadline) {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitListening waits until addr accepts connections, the deadline passes
// or the process exits.
func waitListening(addr string, timeout time.Duration, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("server exited before listening on %s", addr)
		case <-ctx.Done():
			return fmt.Errorf("server not listening on %s after %v", addr, timeout)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
