package logging

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/clicktocall/clicktocall/config"
)

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func TestLogRotatesAfterMaxLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cc.log")
	log, closer, err := NewTo(config.Log{Level: "INFO", File: path, MaxLines: 3}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		log.Info("record", "n", i)
	}
	old, live := readLines(t, path+".old"), readLines(t, path)
	if len(old) != 3 || !strings.Contains(old[0], "n=0") || !strings.Contains(old[2], "n=2") {
		t.Errorf(".old = %q, want records 0..2", old)
	}
	if len(live) != 2 || !strings.Contains(live[0], "n=3") || !strings.Contains(live[1], "n=4") {
		t.Errorf("live = %q, want records 3..4", live)
	}
	// The next rotation replaces the old backup.
	log.Info("record", "n", 5)
	old, live = readLines(t, path+".old"), readLines(t, path)
	if len(old) != 3 || !strings.Contains(old[0], "n=3") || !strings.Contains(old[2], "n=5") || len(live) != 0 {
		t.Errorf("after second rotation .old = %q, live = %q", old, live)
	}
	if err := closer.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestRotatingFileCountsExistingLinesAndNeverRotatesAtZero(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.log")
	if err := os.WriteFile(path, []byte("a\nb\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := OpenRotatingFile(path, 3)
	if err != nil {
		t.Fatal(err)
	}
	if r.Lines() != 2 {
		t.Errorf("Lines = %d, want 2", r.Lines())
	}
	// A partial line does not trigger a rotation until it is ended.
	if _, err := r.Write([]byte("c")); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Write([]byte("c\n")); err != nil {
		t.Fatal(err)
	}
	if got := readLines(t, path+".old"); len(got) != 3 || got[2] != "cc" {
		t.Errorf(".old = %q", got)
	}
	r.Close()
	if _, err := r.Write([]byte("x\n")); err == nil {
		t.Error("write after Close succeeded")
	}

	never := filepath.Join(dir, "never.log")
	r, err = OpenRotatingFile(never, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for range 100 {
		r.Write([]byte("line\n"))
	}
	if _, err := os.Stat(never + ".old"); !os.IsNotExist(err) {
		t.Errorf("max lines 0 rotated: %v", err)
	}
}

func TestRotatingFileIsSafeForConcurrentWriters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	r, err := OpenRotatingFile(path, 100)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 60 {
				if _, err := r.Write([]byte("0123456789\n")); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	r.Close()
	// 480 lines with rotation every 100: 80 live, 100 in .old, every line whole.
	live, old := readLines(t, path), readLines(t, path+".old")
	if len(live) != 80 || len(old) != 100 {
		t.Errorf("live %d lines, old %d lines", len(live), len(old))
	}
	for _, l := range append(live, old...) {
		if l != "0123456789" {
			t.Fatalf("torn line %q", l)
		}
	}
}

func TestWarningGoesToStderrInfoDoesNot(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cc.log")
	var console bytes.Buffer
	log, closer, err := NewTo(config.Log{Level: "info", File: path, MaxLines: 0}, &console)
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	log.Info("just info")
	log.Warn("a warning")
	log.Log(context.Background(), LevelCrit, "critical")
	log.Debug("hidden")
	if c := console.String(); strings.Contains(c, "just info") || !strings.Contains(c, "level=WARNING msg=\"a warning\"") || !strings.Contains(c, "level=CRIT") {
		t.Errorf("console = %q", c)
	}
	file := strings.Join(readLines(t, path), "\n")
	if !strings.Contains(file, "level=INFO msg=\"just info\"") || !strings.Contains(file, "a warning") || strings.Contains(file, "hidden") {
		t.Errorf("file = %q", file)
	}
}

func TestLevelsAndNone(t *testing.T) {
	for _, name := range config.LogLevels {
		if _, _, err := ParseLevel(strings.ToLower(name)); err != nil {
			t.Errorf("config level %s unknown to logging: %v", name, err)
		}
	}
	if _, _, err := ParseLevel("VERBOSE"); err == nil {
		t.Error("VERBOSE accepted")
	}
	order := []slog.Level{LevelStack, LevelDebug, LevelInfo, LevelWarning, LevelErr, LevelCrit}
	names := []string{"STACK", "DEBUG", "INFO", "WARNING", "ERR", "CRIT"}
	for i, l := range order {
		if i > 0 && l <= order[i-1] {
			t.Errorf("level %s not above %s", names[i], names[i-1])
		}
		if LevelName(l) != names[i] {
			t.Errorf("LevelName(%v) = %s", l, LevelName(l))
		}
	}

	var console bytes.Buffer
	path := filepath.Join(t.TempDir(), "none.log")
	log, closer, err := NewTo(config.Log{Level: "NONE", File: path}, &console)
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	log.Log(context.Background(), LevelCrit, "x")
	if console.Len() != 0 || log.Enabled(context.Background(), LevelCrit) {
		t.Error("NONE logged")
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Error("NONE created the log file")
	}
}

func TestConsoleOnlyWhenNoFile(t *testing.T) {
	var console bytes.Buffer
	log, _, err := NewTo(config.Log{Level: "DEBUG"}, &console)
	if err != nil {
		t.Fatal(err)
	}
	log.Debug("dbg")
	if !strings.Contains(console.String(), "level=DEBUG msg=dbg") {
		t.Errorf("console = %q", console.String())
	}
}

func BenchmarkDisabledLevel(b *testing.B) {
	log, closer, err := NewTo(config.Log{Level: "INFO", File: filepath.Join(b.TempDir(), "b.log")}, &bytes.Buffer{})
	if err != nil {
		b.Fatal(err)
	}
	defer closer.Close()
	b.ReportAllocs()
	for b.Loop() {
		log.Debug("not logged", "call", "abc")
	}
}
