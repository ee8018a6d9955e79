// Package logging builds the server's *slog.Logger from the log { } settings:
// the seed's levels (NONE, CRIT, ERR, WARNING, INFO, DEBUG, STACK) mapped onto
// slog levels, one text line per record in log.file (rotated to <file>.old
// after log.max_lines records by RotatingFile), and WARNING and worse also on
// stderr. A disabled level costs only slog's Enabled check.
package logging

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/clicktocall/clicktocall/config"
)

// The seed's levels as slog levels. CRIT sits above slog's ERROR and STACK
// (the original's SIP stack traces) below DEBUG.
const (
	LevelStack   = slog.LevelDebug - 4
	LevelDebug   = slog.LevelDebug
	LevelInfo    = slog.LevelInfo
	LevelWarning = slog.LevelWarn
	LevelErr     = slog.LevelError
	LevelCrit    = slog.LevelError + 4
)

// ParseLevel maps a log.level value (case-insensitive) to its slog level.
// NONE gives enabled == false: nothing is logged at all.
func ParseLevel(name string) (level slog.Level, enabled bool, err error) {
	switch strings.ToUpper(strings.TrimSpace(name)) {
	case "NONE":
		return 0, false, nil
	case "CRIT":
		return LevelCrit, true, nil
	case "ERR":
		return LevelErr, true, nil
	case "WARNING":
		return LevelWarning, true, nil
	case "INFO":
		return LevelInfo, true, nil
	case "DEBUG":
		return LevelDebug, true, nil
	case "STACK":
		return LevelStack, true, nil
	}
	return 0, false, fmt.Errorf("unknown log level %q (want NONE, CRIT, ERR, WARNING, INFO, DEBUG or STACK)", name)
}

// LevelName is the seed's name for a slog level, as written in log lines.
func LevelName(l slog.Level) string {
	switch {
	case l >= LevelCrit:
		return "CRIT"
	case l >= LevelErr:
		return "ERR"
	case l >= LevelWarning:
		return "WARNING"
	case l >= LevelInfo:
		return "INFO"
	case l >= LevelDebug:
		return "DEBUG"
	}
	return "STACK"
}

// New builds the logger for cfg, writing the console copy to stderr. The
// Closer closes the log file; close it last, at exit.
func New(cfg config.Log) (*slog.Logger, io.Closer, error) {
	return NewTo(cfg, os.Stderr)
}

// NewTo is New with the console writer given, for tests and tools.
func NewTo(cfg config.Log, console io.Writer) (*slog.Logger, io.Closer, error) {
	level, enabled, err := ParseLevel(cfg.Level)
	if err != nil {
		return nil, nil, fmt.Errorf("log.level: %w", err)
	}
	if !enabled {
		return slog.New(slog.DiscardHandler), nopCloser{}, nil
	}
	if cfg.File == "" {
		return slog.New(slog.NewTextHandler(console, handlerOptions(level))), nopCloser{}, nil
	}
	file, err := OpenRotatingFile(cfg.File, cfg.MaxLines)
	if err != nil {
		return nil, nil, fmt.Errorf("log.file: %w", err)
	}
	h := slog.NewMultiHandler(
		slog.NewTextHandler(file, handlerOptions(level)),
		slog.NewTextHandler(console, handlerOptions(max(level, LevelWarning))),
	)
	return slog.New(h), file, nil
}

func handlerOptions(level slog.Level) *slog.HandlerOptions {
	return &slog.HandlerOptions{Level: level, ReplaceAttr: seedLevelNames}
}

// seedLevelNames writes levels as the seed names them (CRIT, not ERROR+4).
func seedLevelNames(groups []string, a slog.Attr) slog.Attr {
	if a.Key == slog.LevelKey && len(groups) == 0 {
		if l, ok := a.Value.Any().(slog.Level); ok {
			a.Value = slog.StringValue(LevelName(l))
		}
	}
	return a
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }
