package main

// The commands the docs/ pages show are run here, against the built binary,
// so that none of them rots.

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	simphone "github.com/clicktocall/clicktocall/bench/phone"
)

// docBlock is a fenced code block of a Markdown page.
type docBlock struct {
	info, text string
}

func docBlocks(t *testing.T, page string) []docBlock {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("..", "..", "docs", page))
	if err != nil {
		t.Fatal(err)
	}
	var out []docBlock
	for _, m := range regexp.MustCompile("(?ms)^```([a-z]*)\n(.*?)^```\n").FindAllStringSubmatch(string(src), -1) {
		out = append(out, docBlock{m[1], m[2]})
	}
	return out
}

// runShell runs a documented command with bash and returns its stdout.
func runShell(t *testing.T, command string, env ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Without pipefail, as a user's shell runs them: in "curl | grep -m 2"
	// curl fails writing once grep has what it wants.
	cmd := exec.CommandContext(ctx, "bash", "-c", command)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\nstdout:\n%s\nstderr:\n%s", command, err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

func TestDocsConsoleCommands(t *testing.T) {
	for _, tool := range []string{"curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
	s := startServer(t, serverOptions{})
	mk := func(user string, b simphone.Behaviour) *simphone.Phone {
		p, err := simphone.New(simphone.Config{User: user, Behaviour: b})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		return p
	}
	alice, bob := mk("alice", simphone.Behaviour{Ring: true}), mk("bob", simphone.Behaviour{})
	aliceURI, bobURI := alice.URI("udp"), bob.URI("udp")
	body, _ := json.Marshal(map[string]any{"initiator": aliceURI.String(), "destination": bobURI.String()})
	res, err := http.Post("http://"+s.httpAddr()+"/api/v1/calls", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var created struct{ ID string }
	if err := json.NewDecoder(res.Body).Decode(&created); err != nil || res.StatusCode != 201 {
		t.Fatalf("POST /api/v1/calls: %d %v", res.StatusCode, err)
	}
	res.Body.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if _, err := alice.WaitCall(ctx, simphone.Received(sip.BYE)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the 200 to the BYE reaches the server

	blocks := docBlocks(t, "console.md")
	ran := 0
	for i, b := range blocks {
		if b.info != "sh" {
			continue
		}
		command := strings.ReplaceAll(strings.TrimSpace(b.text), "localhost:5090", s.httpAddr())
		out := runShell(t, command, "ID="+created.ID)
		ran++
		switch {
		case strings.Contains(command, "/stats/events"):
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != 2 {
				t.Errorf("%s printed %d lines, want 2:\n%s", command, len(lines), out)
			}
			for _, l := range lines {
				var sample map[string]any
				if err := json.Unmarshal([]byte(strings.TrimPrefix(l, "data: ")), &sample); err != nil || sample["seq"] == nil {
					t.Errorf("not a sample: %q", l)
				}
			}
		case strings.Contains(command, "/trace"):
			// The page shows this call's ladder: a REFER call whose
			// initiator rang.
			if i+1 >= len(blocks) || blocks[i+1].info != "text" {
				t.Fatalf("the trace command is not followed by its output")
			}
			if want := blocks[i+1].text; out != want {
				t.Errorf("%s printed\n%s\nthe page shows\n%s", command, out, want)
			}
		case strings.Contains(command, "state="):
			if out != "" {
				t.Errorf("no call failed, yet %s printed %q", command, out)
			}
		default:
			t.Errorf("a command this test does not check: %s", command)
		}
	}
	if ran != 3 {
		t.Errorf("ran %d commands of docs/console.md, want 3", ran)
	}
}

func TestDocsBenchReport(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	var ran int
	for _, b := range docBlocks(t, "bench-report.md") {
		if b.info != "sh" {
			continue
		}
		command := strings.TrimSpace(b.text)
		if !strings.HasPrefix(command, "go run ./bench ") {
			t.Fatalf("unexpected command %q", command)
		}
		if strings.Contains(command, "-baseline-bin") {
			continue // an A/B run of minutes: in TestDocsCommands' exceptions
		}
		ran++
		// The built binary is the same tool: clicktocall bench.
		command = strings.Replace(command, "go run ./bench", bin+" bench -q", 1)
		cmd := exec.Command("bash", "-c", command)
		cmd.Dir = dir
		// On a machine busy with other tests the server may shed some of
		// the calls (overload protection): the trial then fails, but the
		// report is what this test is about. Any other failure is one.
		if out, err := cmd.CombinedOutput(); err != nil && !strings.Contains(string(out), "(0 admitted and failed,") {
			t.Fatalf("%s: %v\n%s", command, err, out)
		}
		page, err := os.ReadFile(filepath.Join(dir, "report.html"))
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{`id="trial-1-latency"`, `id="trial-1-calls"`, `id="trial-1-cpu"`, `id="trial-1-rss"`,
			`data-series="RSS (MiB)"`} {
			if !strings.Contains(string(page), want) {
				t.Errorf("report.html lacks %s", want)
			}
		}
		// A point per second of the 5 s trial; on a busy machine the
		// last calls may go out in a sixth second.
		if m := regexp.MustCompile(`data-series="ok" data-points="(\d+)"`).FindStringSubmatch(string(page)); m == nil || (m[1] != "5" && m[1] != "6") {
			t.Errorf("report.html's ok series: %v, want 5 points (6 on a busy machine)", m)
		}
	}
	if ran != 1 {
		t.Errorf("ran %d commands, want 1", ran)
	}
}
