package main

// The cheaper checks of docExceptions, and the runs of the bench commands.

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// checkSyntax: bash parses the command's block.
func checkSyntax(_ *docsEnv, t *testing.T, c docCommand) {
	t.Helper()
	if r := runDoc(t, "bash -n", runOpts{stdin: c.block.text}); r.code != 0 {
		t.Errorf("bash -n on the block of %v: %s", c, r)
	}
}

func checkTestSh(e *docsEnv, t *testing.T, c docCommand) {
	checkSyntax(e, t, c)
	src := readRepoFile(t, "test.sh")
	if r := runDoc(t, "bash -n test.sh", runOpts{}); r.code != 0 {
		t.Errorf("test.sh: %s", r)
	}
	if !strings.Contains(src, "\ngo test -race ") {
		t.Error("test.sh does not run go test -race")
	}
}

// checkHardening: the script parses, and reads each variable the command
// sets, and its argument.
func checkHardening(e *docsEnv, t *testing.T, c docCommand) {
	checkSyntax(e, t, c)
	if r := runDoc(t, "bash -n hardening.sh", runOpts{}); r.code != 0 {
		t.Errorf("hardening.sh: %s", r)
	}
	src := readRepoFile(t, "hardening.sh")
	code, _, _ := strings.Cut(c.text, "#")
	for _, m := range regexp.MustCompile(`\b([A-Z_]+)=`).FindAllStringSubmatch(code, -1) {
		if !strings.Contains(src, "${"+m[1]+":-") {
			t.Errorf("%v: hardening.sh does not read %s", c, m[1])
		}
	}
	if arg := regexp.MustCompile(`hardening\.sh (\w+)`).FindStringSubmatch(code); arg != nil && !strings.Contains(src, `"${1:-}" = `+arg[1]) {
		t.Errorf("%v: hardening.sh takes no argument %s", c, arg[1])
	}
}

// checkFuzzTarget: the fuzz target exists in the package.
func checkFuzzTarget(_ *docsEnv, t *testing.T, c docCommand) {
	m := regexp.MustCompile(`-fuzz='\^(\w+)\$' .* \./(\w+)`).FindStringSubmatch(c.text)
	files, _ := filepath.Glob(filepath.Join("..", "..", m[2], "*_test.go"))
	for _, f := range files {
		if src, _ := os.ReadFile(f); strings.Contains(string(src), "\nfunc "+m[1]+"(f *testing.F)") {
			return
		}
	}
	t.Errorf("%v: no fuzz target %s in ./%s", c, m[1], m[2])
}

// benchFlagNames are the flags "clicktocall bench -h" lists.
func benchFlagNames(t *testing.T) map[string]bool {
	t.Helper()
	_, out, errOut := run("bench", "-h")
	flags := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s+-(\w[\w-]*)`).FindAllStringSubmatch(out+errOut, -1) {
		flags[m[1]] = true
	}
	if !flags["rate"] || !flags["duration"] {
		t.Fatalf("bench -h lists no -rate and -duration:\n%s%s", out, errOut)
	}
	return flags
}

// checkBenchFlags: the block parses, and every flag given to the bench
// (after go run ./bench or clicktocall bench, or in $AB) is one of its flags.
func checkBenchFlags(e *docsEnv, t *testing.T, c docCommand) {
	checkSyntax(e, t, c)
	flags := benchFlagNames(t)
	text := c.text
	if c.block != nil {
		text = c.block.text
	}
	n := 0
	for _, l := range strings.Split(strings.ReplaceAll(text, "\\\n", " "), "\n") {
		code, _, _ := strings.Cut(l, "#")
		i := strings.Index(code, "./bench ")
		for _, start := range []string{"$AB ", "clicktocall bench "} {
			if j := strings.Index(code, start); i < 0 && j >= 0 {
				i = j
			}
		}
		if i < 0 {
			continue
		}
		for _, m := range regexp.MustCompile(`(?:^|[\s\[])-(\w[\w-]*)`).FindAllStringSubmatch(code[i:], -1) {
			n++
			if !flags[m[1]] {
				t.Errorf("%v: the bench has no flag -%s", c, m[1])
			}
		}
	}
	if n == 0 {
		t.Errorf("%v: no bench flags found", c)
	}
}

// checkInstallBlock: the block parses and main.version, which its build
// sets, is a string variable.
func checkInstallBlock(e *docsEnv, t *testing.T, c docCommand) {
	checkSyntax(e, t, c)
	if !regexp.MustCompile(`(?m)^var version = "`).MatchString(readRepoFile(t, "cmd/clicktocall/version.go")) {
		t.Error(`cmd/clicktocall/version.go has no var version = "...", which the build's -X main.version sets`)
	}
}

// checkRunByDeployCheck: deploy/check.sh runs the same tool.
func checkRunByDeployCheck(what string) func(*docsEnv, *testing.T, docCommand) {
	return func(_ *docsEnv, t *testing.T, c docCommand) {
		if !strings.Contains(readRepoFile(t, "deploy/check.sh"), "\n  "+what+" ") {
			t.Errorf("%v: deploy/check.sh does not run %s", c, what)
		}
	}
}

// benchTable checks a bench's output: a trial in the mode the command
// asks for, with calls ok. Exit status 1 is allowed only when the server
// shed calls (a machine busy with other tests).
func benchTable(t *testing.T, r shellRun) {
	t.Helper()
	t.Log(r)
	mode := "refer"
	if strings.Contains(r.command, "-mode anchored") {
		mode = "anchored"
	}
	if !strings.Contains(r.stdout, "clicktocall bench: "+mode+" mode ") {
		t.Errorf("not a %s bench: %s", mode, r)
	}
	m := regexp.MustCompile(`(?m)^  calls +(\d+) sent of (\d+), (\d+) ok, (\d+) failed`).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Errorf("no trial result: %s", r)
		return
	}
	if ok, _ := strconv.Atoi(m[3]); ok == 0 {
		t.Errorf("no call ok: %s", r)
	}
	if shed := regexp.MustCompile(`([1-9]\d*) requests refused for overload`).MatchString(r.stdout); r.code != 0 && !shed {
		t.Errorf("failed: %s", r)
	}
}

// benchSearch runs the search for two 1 s steps, from 20 to 40 calls/s.
func (e *docsEnv) benchSearch(t *testing.T, c docCommand) {
	checkBenchFlags(e, t, c)
	code, _, _ := strings.Cut(e.subst(c.text), "#")
	r := runDoc(t, code+" -search-start 20 -search-max 40 -search-steps 2 -duration 1s -settle 0s", runOpts{dir: t.TempDir(), timeout: 60 * time.Second})
	benchTable(t, r)
	if !regexp.MustCompile(`(?m)^highest rate with no failed call: [24]0 calls/s$`).MatchString(r.stdout) {
		t.Errorf("no search result: %s", r)
	}
}

// benchShort runs the bench command for 1 s at 50 calls/s.
func (e *docsEnv) benchShort(t *testing.T, c docCommand) {
	command := strings.NewReplacer("-rate 500 ", "-rate 50 ", "-duration 10s", "-duration 1s").Replace(e.subst(c.text))
	r := runDoc(t, command, runOpts{dir: t.TempDir(), timeout: 60 * time.Second})
	benchTable(t, r)
}

// benchRunningServer runs the bench against the shared server, its phone
// playing both SIPp phones, for 1 s at 20 calls/s.
func (e *docsEnv) benchRunningServer(t *testing.T, c docCommand) {
	e.setREFER(quickREFER)
	phone := e.phone.Addr("udp")
	command := strings.NewReplacer("127.0.0.1:46094", e.srv.xmlAddr(), "127.0.0.1:46090", e.srv.httpAddr(),
		"127.0.0.1:25070", phone, "127.0.0.1:25080", phone, "-rate 6000", "-rate 20", "-duration 60s", "-duration 1s").Replace(c.text)
	r := runDoc(t, command, runOpts{dir: t.TempDir(), timeout: 60 * time.Second,
		env: []string{fmt.Sprintf("SERVER=%d", e.srv.cmd.Process.Pid)}})
	benchTable(t, r)
}

// benchSIPp runs the block with the SIPp phones, on free ports, for 2 s at
// 50 calls/s.
func (e *docsEnv) benchSIPp(t *testing.T, c docCommand) {
	needSIPp(t)
	var pairs []string
	for _, p := range []string{"15070", "15080", "18888", "18889"} {
		pairs = append(pairs, p, strconv.Itoa(freePort(t, false, "udp")))
	}
	for _, p := range []string{"16000", "17000"} {
		pairs = append(pairs, p, strconv.Itoa(freePort(t, true, "udp")))
	}
	pairs = append(pairs, "-rate 2000 -duration 60s", "-rate 50 -duration 2s")
	script := e.subst(strings.NewReplacer(pairs...).Replace(c.block.text))
	// SIPp writes its error files into the working directory.
	dir := t.TempDir()
	bench, _ := filepath.Abs(filepath.Join("..", "..", "bench"))
	if err := os.Symlink(bench, filepath.Join(dir, "bench")); err != nil {
		t.Fatal(err)
	}
	benchTable(t, runDoc(t, script, runOpts{dir: dir, timeout: 60 * time.Second}))
}

// checkClusterBlock checks a block of docs/cluster.md: see docExceptions.
func checkClusterBlock(e *docsEnv, t *testing.T, c docCommand) {
	checkSyntax(e, t, c)
	runByTest("TestClusterOfThreeNodesAnswersForEveryCallOnEveryNode")(e, t, c)
	text := c.block.text
	if strings.Contains(text, "etcd --") {
		needTool(t, "etcd")
		help := runDoc(t, "etcd --help", runOpts{})
		for _, m := range regexp.MustCompile(`\s(--[a-z-]+)`).FindAllStringSubmatch(text, -1) {
			if !strings.Contains(help.stdout+help.stderr, m[1]+" ") {
				t.Errorf("%v: etcd --help lists no %s", c, m[1])
			}
		}
	}
}

// Every hcl block of the pages is a valid configuration (docs/tls.md's,
// which name certificate files, are loaded by TestDocsCommands).
func TestDocsConfigBlocks(t *testing.T) {
	n := 0
	for _, page := range mdPages(t) {
		if page == "docs/tls.md" {
			continue
		}
		for _, f := range fences(readRepoFile(t, page)) {
			if f.info != "hcl" {
				continue
			}
			n++
			path := filepath.Join(t.TempDir(), "config.hcl")
			if err := os.WriteFile(path, []byte(f.text), 0o600); err != nil {
				t.Fatal(err)
			}
			if status, _, errOut := run("check", "-config", path); status != 0 {
				t.Errorf("%s:%d: the block is no valid config: %s", page, f.line, errOut)
			}
		}
	}
	if n == 0 {
		t.Error("no hcl block found")
	}
}

// runByTest: the command is run by a test of its own, which must exist.
func runByTest(name string) func(*docsEnv, *testing.T, docCommand) {
	return func(_ *docsEnv, t *testing.T, c docCommand) {
		files, _ := filepath.Glob("*_test.go")
		for _, f := range files {
			if src, _ := os.ReadFile(f); strings.Contains(string(src), "\nfunc "+name+"(t *testing.T)") {
				return
			}
		}
		t.Errorf("%v: %s, which runs it, is gone", c, name)
	}
}
