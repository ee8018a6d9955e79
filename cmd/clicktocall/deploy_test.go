package main

import (
	"encoding/json"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/clicktocall/clicktocall/config"
	"github.com/clicktocall/clicktocall/observe/metrics"
)

func readRepoFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", path))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The deploy files agree with each other, with go.mod and with the
// server: what docs/deploy.md says of them. (deploy/check.sh runs
// systemd-analyze and promtool on them.)
func TestDeployFiles(t *testing.T) {
	t.Setenv("CLICKTOCALL_HTTP_PASSWORD", "test")
	cfg, err := config.Load(filepath.Join("..", "..", "deploy", "config.hcl"))
	if err != nil {
		t.Fatalf("deploy/config.hcl: %v", err)
	}
	const state = "/var/lib/clicktocall/"
	if !strings.HasPrefix(cfg.Log.File, state) || !strings.HasPrefix(cfg.CDR.File, state) || !cfg.HTTP.Auth || cfg.API.MetricsAuth {
		t.Errorf("deploy/config.hcl: log %q, cdr %q, http.auth %v, metrics_auth %v", cfg.Log.File, cfg.CDR.File, cfg.HTTP.Auth, cfg.API.MetricsAuth)
	}

	unit := readRepoFile(t, "deploy/clicktocall.service")
	for _, want := range []string{"\nDynamicUser=yes\n", "\nNoNewPrivileges=yes\n", "\nProtectSystem=strict\n",
		"\nStateDirectory=clicktocall\n", "\nExecStart=/usr/local/bin/clicktocall serve -q -config /etc/clicktocall/config.hcl\n",
		"\nKillSignal=SIGTERM\n"} {
		if !strings.Contains(unit, want) {
			t.Errorf("the unit lacks %q", strings.TrimSpace(want))
		}
	}

	docker := readRepoFile(t, "deploy/Dockerfile")
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(readRepoFile(t, "go.mod"))
	for _, want := range []string{
		"FROM golang:" + goVersion[1] + "-bookworm AS build",
		"COPY --from=build /out/clicktocall /usr/local/bin/clicktocall",
		"COPY deploy/config.hcl /etc/clicktocall/config.hcl",
		"USER 10001:10001",
		`VOLUME ["/var/lib/clicktocall"]`,
		`ENTRYPOINT ["/usr/local/bin/clicktocall", "serve", "-config", "/etc/clicktocall/config.hcl"]`,
	} {
		if !strings.Contains(docker, want) {
			t.Errorf("the Dockerfile lacks %q", want)
		}
	}
	if strings.Count(docker, "\nFROM ") != 2 || !strings.HasPrefix(docker[strings.LastIndex(docker, "\nFROM "):], "\nFROM debian:") {
		t.Error("the Dockerfile should have two stages, the second a Debian image")
	}

	// Every metric the alerts and the dashboard use is one the server
	// exports: its own (declared in observe/metrics), and the Go and
	// process collectors' (in a scrape).
	exported := map[string]bool{}
	for _, dir := range []string{"observe/metrics"} {
		files, _ := filepath.Glob(filepath.Join("..", "..", dir, "*.go"))
		for _, f := range files {
			src, _ := os.ReadFile(f)
			for _, m := range regexp.MustCompile(`Name:\s+"(clicktocall_\w+)"`).FindAllStringSubmatch(string(src), -1) {
				exported[m[1]] = true
			}
		}
	}
	rec := httptest.NewRecorder()
	metrics.New(func() int { return 0 }).Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, m := range regexp.MustCompile(`(?m)^# TYPE (\w+)`).FindAllStringSubmatch(string(body), -1) {
		exported[m[1]] = true
	}
	dashboard := readRepoFile(t, "deploy/grafana/clicktocall.json")
	var d struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal([]byte(dashboard), &d); err != nil || len(d.Panels) < 10 {
		t.Fatalf("dashboard: %v, %d panels", err, len(d.Panels))
	}
	used := regexp.MustCompile(`\b((?:clicktocall|process|go)_[a-z_]+)\b`)
	for _, src := range []string{dashboard, readRepoFile(t, "deploy/prometheus/alerts.yml")} {
		for _, m := range used.FindAllStringSubmatch(src, -1) {
			name := m[1]
			for _, suffix := range []string{"_bucket", "_count", "_sum"} {
				if base := strings.TrimSuffix(name, suffix); base != name && exported[base] {
					name = base
				}
			}
			if !exported[name] {
				t.Errorf("%s is used by the deploy files but not exported by the server", m[1])
			}
		}
	}
}
