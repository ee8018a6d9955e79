package logging

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestAtLeastDropsRecordsBelowItsLevel(t *testing.T) {
	var buf bytes.Buffer
	log := AtLeast(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), slog.LevelWarn).With("lib", "x")
	log.Info("routine")
	log.Warn("worth seeing")
	if out := buf.String(); strings.Contains(out, "routine") || !strings.Contains(out, "worth seeing") || !strings.Contains(out, "lib=x") {
		t.Fatalf("log = %q", out)
	}
}
