#!/usr/bin/env bash
# Checks the deploy files, as ./test.sh runs it:
#   - the systemd unit with systemd-analyze verify (its ExecStart pointed at
#     a freshly built binary, which verify wants to exist), and its exposure
#     with systemd-analyze security;
#   - the example config with clicktocall check;
#   - the Prometheus alerting rules with promtool check rules and their unit
#     tests with promtool test rules;
#   - the Grafana dashboard: valid JSON whose every query promtool parses.
# Needs systemd-analyze (Debian: systemd) and promtool (Debian: prometheus);
# a missing tool is reported and its checks skipped, except in CI.
set -euo pipefail
cd "$(dirname "$0")"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

missing() {
  if [ -n "${CI:-}" ]; then
    echo "deploy/check.sh: $1 is missing" >&2
    exit 1
  fi
  echo "deploy/check.sh: $1 is missing: its checks are skipped" >&2
}

go build -o "$tmp/clicktocall" ../cmd/clicktocall

echo "-- clicktocall check deploy/config.hcl"
CLICKTOCALL_HTTP_PASSWORD=check "$tmp/clicktocall" check -config config.hcl >/dev/null

if command -v systemd-analyze >/dev/null 2>&1; then
  echo "-- systemd-analyze verify deploy/clicktocall.service"
  sed "s|/usr/local/bin/clicktocall|$tmp/clicktocall|g" clicktocall.service >"$tmp/clicktocall.service"
  systemd-analyze verify "$tmp/clicktocall.service"
  systemd-analyze security --offline=yes "$tmp/clicktocall.service" | tail -n 1
else
  missing systemd-analyze
fi

if command -v promtool >/dev/null 2>&1; then
  echo "-- promtool check rules / test rules deploy/prometheus"
  promtool check rules prometheus/alerts.yml
  (cd prometheus && promtool test rules alerts_test.yml)
  echo "-- the Grafana dashboard's queries"
  # Each query becomes a recording rule, so promtool parses it.
  python3 - grafana/clicktocall.json >"$tmp/dashboard-rules.yml" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print("groups:\n  - name: dashboard\n    rules:")
n = 0
for p in d["panels"]:
    for t in p.get("targets", []):
        e = t["expr"].replace("$__rate_interval", "5m").replace("$instance", ".*")
        n += 1
        print("      - record: dashboard:query%d\n        expr: %s" % (n, json.dumps(e)))
PY
  promtool check rules "$tmp/dashboard-rules.yml"
else
  missing promtool
fi
echo "-- deploy files OK"
