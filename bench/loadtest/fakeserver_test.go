package loadtest

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// fakeServerEnv, in a process's environment, makes this test binary a fake
// server process instead of running tests: what the bench starts with
// -start-server, reached through links named "baseline" and "candidate".
// Its value is the file where every fake server writes a line when it
// starts: its name (the link's), its pid and its config file.
const fakeServerEnv = "LOADTEST_FAKE_SERVER"

func TestMain(m *testing.M) {
	if record := os.Getenv(fakeServerEnv); record != "" {
		if err := runFakeServer(record, os.Args); err != nil {
			fmt.Fprintln(os.Stderr, "fake server:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runFakeServer is "NAME serve -config FILE": it binds the config's xml
// port, then its http port (answering 404: no metrics), prints the ready
// line, as the server does, and answers XML requests
// until SIGTERM, like serveFakeXML, refusing with
// 503 the first calls of its life that LOADTEST_FAKE_FAILS_<NAME> gives for
// this start of NAME (a comma-separated list, one number per start), and
// every call after the first LOADTEST_FAKE_CAPACITY_<NAME> of its life.
// The first LOADTEST_FAKE_TAKEN_<NAME> starts of NAME find their http port
// taken (by a listener of their own) and exit 1, as the server does; each
// such start appends a line to the record file + ".taken".
func runFakeServer(record string, args []string) error {
	if len(args) != 4 || args[1] != "serve" || args[2] != "-config" {
		return fmt.Errorf("want NAME serve -config FILE, got %q", args)
	}
	name := filepath.Base(args[0])
	config, err := os.ReadFile(args[3])
	if err != nil {
		return err
	}
	m := regexp.MustCompile(`(?s)\nxml \{.*?\bport\s*=\s*(\d+)`).FindSubmatch(config)
	h := regexp.MustCompile(`(?s)\nhttp \{.*?\bport\s*=\s*(\d+)`).FindSubmatch(config)
	if m == nil || h == nil {
		return fmt.Errorf("no xml or http port in %s", args[3])
	}
	before, _ := os.ReadFile(record)
	nth := strings.Count("\n"+string(before), "\n"+name+" ") // earlier starts of this name
	fails := 0
	if list := strings.Split(os.Getenv("LOADTEST_FAKE_FAILS_"+name), ","); nth < len(list) && list[nth] != "" {
		if fails, err = strconv.Atoi(list[nth]); err != nil {
			return err
		}
	}
	capacity := -1
	if v := os.Getenv("LOADTEST_FAKE_CAPACITY_" + name); v != "" {
		if capacity, err = strconv.Atoi(v); err != nil {
			return err
		}
	}

	ln, err := net.Listen("tcp", "127.0.0.1:"+string(m[1]))
	if err != nil {
		return err
	}
	if taken, _ := strconv.Atoi(os.Getenv("LOADTEST_FAKE_TAKEN_" + name)); taken > 0 {
		before, _ := os.ReadFile(record + ".taken")
		if strings.Count(string(before), name+"\n") < taken {
			if _, err := net.Listen("tcp", "127.0.0.1:"+string(h[1])); err != nil {
				return err // the other program could not have its port
			}
			if err := os.WriteFile(record+".taken", append(before, name+"\n"...), 0o600); err != nil {
				return err
			}
		}
	}
	web, err := net.Listen("tcp", "127.0.0.1:"+string(h[1]))
	if err != nil {
		return err
	}
	defer web.Close()
	go http.Serve(web, http.NotFoundHandler()) //nolint:errcheck // ends with the listener; no metrics to scrape
	fmt.Printf("%s ready in 1 ms\n", time.Now().Format("15:04:05"))
	f, err := os.OpenFile(record, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	fmt.Fprintf(f, "%s %d %s\n", name, os.Getpid(), args[3])
	f.Close()

	var mu sync.Mutex
	calls := 0
	go serveFakeXML(ln, func() bool {
		mu.Lock()
		defer mu.Unlock()
		calls++
		return calls > fails && (capacity < 0 || calls <= capacity)
	})
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	<-term
	return ln.Close()
}

// fakeServerStart is one line of the fake servers' record.
type fakeServerStart struct {
	name, pid, config string
}

// fakeServers makes links named baseline and candidate to this test binary
// and sets the record file of the fake servers they start, which are told
// apart by those names; it returns the links' directory and the record.
func fakeServers(t *testing.T) (dir, record string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	for _, name := range []string{sideBaseline, sideCandidate} {
		if err := os.Symlink(self, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return dir, filepath.Join(dir, "record")
}

// fakeServerStarts reads the record the fake servers wrote.
func fakeServerStarts(t *testing.T, record string) []fakeServerStart {
	t.Helper()
	b, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	var starts []fakeServerStart
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			t.Fatalf("record line %q", line)
		}
		starts = append(starts, fakeServerStart{f[0], f[1], f[2]})
	}
	return starts
}
