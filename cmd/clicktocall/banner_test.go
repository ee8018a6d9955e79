package main

import (
	"bufio"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// shippedConfig is the repository's config.hcl with its ports replaced by
// free ones (a server may be running on the shipped ports) and its log in
// dir: what a new user runs with `go run ./cmd/clicktocall`.
func shippedConfig(t *testing.T, dir string) (path string, sipPort, httpPort, xmlPort int) {
	t.Helper()
	src, err := os.ReadFile("../../config.hcl")
	if err != nil {
		t.Fatal(err)
	}
	sipPort, httpPort, xmlPort = freePort(t, false, "udp", "tcp"), freePort(t, false, "tcp"), freePort(t, false, "tcp")
	cfg := string(src)
	for _, r := range []struct{ re, with string }{
		{`(?m)^(\s*udp_tcp_port\s*=\s*)5072\b`, "${1}" + strconv.Itoa(sipPort)},
		{`(?m)^(\s*port\s*=\s*)5090\b`, "${1}" + strconv.Itoa(httpPort)},
		{`(?m)^(\s*port\s*=\s*)5094\b`, "${1}" + strconv.Itoa(xmlPort)},
	} {
		re := regexp.MustCompile(r.re)
		if !re.MatchString(cfg) {
			t.Fatalf("config.hcl has no line like %s", r.re)
		}
		cfg = re.ReplaceAllString(cfg, r.with)
	}
	path = filepath.Join(dir, "config.hcl")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, sipPort, httpPort, xmlPort
}

// lines reads r line by line onto a channel, closed at the end.
func lines(r io.Reader) <-chan string {
	c := make(chan string, 100)
	go func() {
		defer close(c)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			c <- sc.Text()
		}
	}()
	return c
}

// readUntil collects lines until one contains want.
func readUntil(t *testing.T, c <-chan string, want string, got *[]string) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case l, ok := <-c:
			if !ok {
				t.Fatalf("stdout ended before %q:\n%s", want, strings.Join(*got, "\n"))
			}
			*got = append(*got, l)
			if strings.Contains(l, want) {
				return
			}
		case <-deadline:
			t.Fatalf("no %q on stdout within 20s:\n%s", want, strings.Join(*got, "\n"))
		}
	}
}

func TestServeBannerShowsWhereItListensAndEachStateChange(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	cfg, sipPort, httpPort, xmlPort := shippedConfig(t, dir)
	cmd := exec.Command(bin, "-config", cfg) // as `go run ./cmd/clicktocall` with -config
	cmd.Dir = dir
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
	})
	out := lines(stdout)
	var got []string
	readUntil(t, out, "ready in", &got)
	text := strings.Join(got, "\n")

	port := func(p int) string { return ":" + strconv.Itoa(p) }
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`^clicktocall \S+`),
		regexp.MustCompile(`(?m)^  config   ` + regexp.QuoteMeta(cfg) + `$`),
		regexp.MustCompile(`(?m)^  sip      udp \S+` + port(sipPort) + `, tcp \S+` + port(sipPort)),
		regexp.MustCompile(`(?m)^  http     \S+` + port(httpPort) + `$`),
		regexp.MustCompile(`(?m)^  xml      \S+` + port(xmlPort) + `$`),
		regexp.MustCompile(`(?m)^  console  http://localhost` + port(httpPort) + `/$`),
		regexp.MustCompile(`(?m)^  log      ` + regexp.QuoteMeta(filepath.Join(dir, "clicktocall.log")) + `, level INFO`),
		regexp.MustCompile(`(?m)^  cdr      off`),
		regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d ready in \d+ ms; Ctrl-C or SIGTERM stops it$`),
	} {
		if !want.MatchString(text) {
			t.Errorf("banner lacks %s:\n%s", want, text)
		}
	}

	// The console's URL works.
	url := regexp.MustCompile(`http://localhost:\d+/`).FindString(text)
	res, err := (&http.Client{Timeout: 5 * time.Second}).Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(page), "<title>Click-to-call console</title>") {
		t.Errorf("GET %s: %d\n%.300s", url, res.StatusCode, page)
	}

	// SIGTERM: a line as it drains, one when it has stopped.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	readUntil(t, out, "stopped", &got)
	tail := strings.Join(got[len(got)-2:], "\n")
	if !regexp.MustCompile(`^\d\d:\d\d:\d\d draining: 0 calls in progress, new requests refused \(at most 10s\)\n\d\d:\d\d:\d\d stopped$`).MatchString(tail) {
		t.Errorf("state lines:\n%s", tail)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("exit: %v; stderr:\n%s", err, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("still running 15s after SIGTERM")
	}
}

func TestServeQuietPrintsNothingOnStdout(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	cfg, _, httpPort, _ := shippedConfig(t, dir)
	cmd := exec.Command(bin, "serve", "-q", "-config", cfg)
	cmd.Dir = dir
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := (&http.Client{Timeout: time.Second}).Get("http://127.0.0.1:" + strconv.Itoa(httpPort) + "/healthz")
		if err == nil {
			res.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not serving after 20s: %v; stderr:\n%s", err, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("exit: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("still running 15s after SIGTERM")
	}
	if stdout.String() != "" {
		t.Errorf("-q printed:\n%s", stdout.String())
	}
}

func TestServeBannerNamesAnHTTPSConsoleAndAnAddressItIsBoundTo(t *testing.T) {
	for _, tc := range []struct {
		addr string
		tls  bool
		want string
	}{
		{"[::]:5090", false, "http://localhost:5090/"},
		{"0.0.0.0:5090", true, "https://localhost:5090/"},
		{"192.0.2.10:5090", false, "http://192.0.2.10:5090/"},
		{"[2001:db8::10]:5090", true, "https://[2001:db8::10]:5090/"},
	} {
		if got := pageURLs(addr(tc.addr), tc.tls); len(got) != 1 || got[0] != tc.want {
			t.Errorf("%s tls=%v: %v, want %s", tc.addr, tc.tls, got, tc.want)
		}
	}
}

// addr is a net.Addr of a fixed string.
type addr string

func (a addr) Network() string { return "tcp" }
func (a addr) String() string  { return string(a) }
