package config

import (
	"testing"
	"time"
)

func TestOverloadSettings(t *testing.T) {
	if d := Default().Limits; d.OverloadLagTarget != 20*time.Millisecond || d.QueueTimeout != 0 {
		t.Errorf("defaults: lag target %v, queue %v; want on at 20ms, no queue", d.OverloadLagTarget, d.QueueTimeout)
	}
	cfg, err := Parse([]byte("limits {\n  overload_lag_target = \" 20ms \"\n  queue_timeout = \"2s\"\n}\n"), "limits.hcl")
	if err != nil {
		t.Fatal(err)
	}
	if l := cfg.Limits; l.OverloadLagTarget != 20*time.Millisecond || l.QueueTimeout != 2*time.Second {
		t.Errorf("parsed %+v", l)
	}
	off, err := Parse([]byte("limits {\n  overload_lag_target = \"0s\"\n}\n"), "off.hcl")
	if err != nil || off.Limits.OverloadLagTarget != 0 {
		t.Errorf("\"0s\" turns overload protection off: %v, %v", off.Limits.OverloadLagTarget, err)
	}
	shown := map[string]string{}
	for _, s := range cfg.Settings() {
		shown[s.Key] = s.Value
	}
	if shown["limits.overload_lag_target"] != `"20ms"` || shown["limits.queue_timeout"] != `"2s"` {
		t.Errorf("check shows %q and %q", shown["limits.overload_lag_target"], shown["limits.queue_timeout"])
	}
}
