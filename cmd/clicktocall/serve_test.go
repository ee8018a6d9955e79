package main

import (
	"io"
	"log/slog"
	"math"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/clicktocall/clicktocall/config"
)

// The memory_limit of the loaded config becomes Go's soft memory limit; 0
// leaves whatever limit the process had (GOMEMLIMIT's, or none).
func TestServeSetsMemoryLimitFromTheConfig(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	cases := []struct {
		setting string
		had     int64 // the limit before serve starts
		want    int64
	}{
		{`memory_limit = "1536MiB"`, math.MaxInt64, 1536 << 20},
		{`memory_limit = "2GB"`, 300 << 20, 2_000_000_000},
		{`memory_limit = "0"`, 300 << 20, 300 << 20}, // as GOMEMLIMIT=300MiB left it
		{``, math.MaxInt64, math.MaxInt64},
	}
	for _, c := range cases {
		cfg, err := config.Load(writeFile(t, "mem.hcl", c.setting+"\n"))
		if err != nil {
			t.Fatalf("%s: %v", c.setting, err)
		}
		debug.SetMemoryLimit(c.had)
		setMemoryLimit(cfg.MemoryLimit, log)
		if got := debug.SetMemoryLimit(-1); got != c.want {
			t.Errorf("%q: memory limit %d, want %d", c.setting, got, c.want)
		}
	}
}

func TestCheckShowsTheMemoryLimit(t *testing.T) {
	status, out, errOut := run("check", "-config", writeFile(t, "mem.hcl", "memory_limit = \"2GiB\"\n"))
	if status != 0 || !strings.Contains(out, "\nmemory_limit = \"2GiB\"\n") {
		t.Errorf("check exited %d:\n%s%s", status, out, errOut)
	}
	path := writeFile(t, "bad.hcl", "\nmemory_limit = \"512\"\n")
	if status, _, errOut := run("check", "-config", path); status != 1 || !strings.Contains(errOut, path+":2: Invalid value for memory_limit") {
		t.Errorf("a limit without its unit: check exited %d: %s", status, errOut)
	}
}
