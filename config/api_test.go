package config

import (
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestAPIAndCDRBlocksOverrideDefaults(t *testing.T) {
	src := `
api {
  status_callback_secret      = " s3cret "
  status_callback_timeout     = "2s"
  status_callback_attempts    = 3
  status_callback_max_pending = 10
  call_retention              = "1m"
  max_finished_calls          = 50
  idempotency_window          = "30s"
  max_request_ids             = 20
  events_heartbeat            = "1s"
  metrics_auth                = false
  trace_calls                 = 0
  caller_ids                  = [" sip:\\+1555\\d{7}@example\\.com "]
  allowed_headers             = ["Call-Info", " Alert-Info"]
  max_ring_timeout            = "90s"
  max_time_limit              = "1h"
}
cdr {
  file      = "calls.cdr"
  max_lines = 7
}
`
	cfg, err := Parse([]byte(src), "t.hcl")
	if err != nil {
		t.Fatal(err)
	}
	want := API{
		StatusCallbackSecret: "s3cret", StatusCallbackTimeout: 2 * time.Second, StatusCallbackAttempts: 3,
		StatusCallbackMaxPending: 10, CallRetention: time.Minute, MaxFinishedCalls: 50,
		IdempotencyWindow: 30 * time.Second, MaxRequestIDs: 20, EventsHeartbeat: time.Second, MetricsAuth: false,
		CallerIDs: []string{`sip:\+1555\d{7}@example\.com`}, AllowedHeaders: []string{"Call-Info", "Alert-Info"},
		MaxRingTimeout: 90 * time.Second, MaxTimeLimit: time.Hour,
	}
	if !reflect.DeepEqual(cfg.API, want) {
		t.Errorf("api = %+v\nwant %+v", cfg.API, want)
	}
	if cfg.CDR != (CDR{File: "calls.cdr", MaxLines: 7}) {
		t.Errorf("cdr = %+v", cfg.CDR)
	}
	for _, s := range cfg.Settings() {
		if s.Key == "api.status_callback_secret" && s.Value != redactedText {
			t.Errorf("secret shown as %q", s.Value)
		}
	}
}

func TestAPIAndCDRErrorsNameFileAndLine(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		line      int
		want      string
	}{
		{"zero attempts", "api {\n  status_callback_attempts = 0\n}\n", 2, "api.status_callback_attempts"},
		{"zero pending", "api {\n\n  status_callback_max_pending = -1\n}\n", 3, "at least 1"},
		{"zero retention", "api {\n  call_retention = \"0s\"\n}\n", 2, "longer than zero"},
		{"bad heartbeat", "api {\n  events_heartbeat = \"often\"\n}\n", 2, "not a duration"},
		{"negative trace_calls", "api {\n  trace_calls = -1\n}\n", 2, "api.trace_calls"},
		{"negative cdr lines", "cdr {\n  max_lines = -2\n}\n", 2, "cdr.max_lines"},
		{"caller ID pattern that does not compile", "api {\n  caller_ids = [\"sip:(\"]\n}\n", 2, "does not compile"},
		{"allowed header the server writes", "api {\n\n  allowed_headers = [\"X-Ok\", \"Call-ID\"]\n}\n", 3, "written by the server itself"},
		{"allowed header that is no name", "api {\n  allowed_headers = [\"Alert Info\"]\n}\n", 2, "not a SIP header name"},
		{"zero max ring timeout", "api {\n  max_ring_timeout = \"0s\"\n}\n", 2, "api.max_ring_timeout"},
		{"misspelt cdr key", "cdr {\n  files = \"x\"\n}\n", 2, `Did you mean "file"?`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.src), "bad.hcl")
			if err == nil {
				t.Fatal("Parse accepted it")
			}
			msg := err.Error()
			if prefix := "bad.hcl:" + strconv.Itoa(tc.line) + ":"; !strings.HasPrefix(msg, prefix) {
				t.Errorf("error %q does not start with %q", msg, prefix)
			}
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error %q does not mention %q", msg, tc.want)
			}
		})
	}
}
