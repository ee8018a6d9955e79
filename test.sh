#!/usr/bin/env bash
# Runs every check of the project: formatting, vet, staticcheck, the tests
# (with the race detector) and short fuzz runs. On a bare Debian machine it
# first installs what is missing: SIPp (Debian package sip-tester) for the
# SIP interoperability tests, etcd (etcd-server) for the cluster test, and
# staticcheck.
set -euo pipefail
cd "$(dirname "$0")"

# Fuzz targets to run briefly after the tests, as package:FuzzName pairs,
# e.g. "./config:FuzzTranslate". FUZZTIME (default 10s) is per target.
FUZZ_TARGETS=(
  ./config:FuzzTranslate
  ./config:FuzzImportConfig
  ./frontends/xml:FuzzDecodeRequest
  ./frontends/xml:FuzzResponseRoundTrip
  ./frontends/xml:FuzzPlainDocument
  ./frontends/http:FuzzParseAuthorization
  ./frontends/http:FuzzClickToCallQuery
  ./frontends/http:FuzzCreateCallBody
  ./intake/calloptions:FuzzCheck
  ./actors:FuzzParseSipfrag
  ./actors:FuzzSDPRewrite
  ./transport:FuzzRouterDatagram
)

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

if ! command -v sipp >/dev/null 2>&1; then
  echo "== installing sip-tester (SIPp)"
  as_root apt-get update
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends sip-tester
fi

# The clients the docs' commands use, which TestDocsCommands runs: curl, jq,
# OpenBSD nc (its -N) and openssl (jq: TestDocsConsoleCommands).
missing_clients=()
for tool in curl:curl jq:jq nc:netcat-openbsd openssl:openssl; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || missing_clients+=("${tool##*:}")
done
if [ "${#missing_clients[@]}" -gt 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "== installing ${missing_clients[*]} (for the commands of the docs)"
  as_root apt-get update
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing_clients[@]}"
fi

# etcd (Debian package etcd-server) for the end-to-end test of three nodes
# in one cluster (cmd/clicktocall); the test starts its own on loopback.
if ! command -v etcd >/dev/null 2>&1; then
  echo "== installing etcd-server (etcd)"
  install_etcd() { as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends etcd-server; }
  install_etcd || { as_root apt-get update && install_etcd; }
fi

# Chromium for the browser test of the / page (frontends/http). Optional:
# without it that test skips; CTC_NO_BROWSER=1 skips the install.
if ! command -v chromium >/dev/null 2>&1 && [ -z "${CTC_NO_BROWSER:-}" ] && command -v apt-get >/dev/null 2>&1; then
  echo "== installing chromium (browser test; CTC_NO_BROWSER=1 skips)"
  install_chromium() { as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; }
  install_chromium || { as_root apt-get update && install_chromium; } ||
    echo "chromium could not be installed: the browser test will skip" >&2
fi

# promtool (Debian package prometheus) and systemd-analyze (package systemd)
# for the checks of the deploy files (deploy/check.sh).
for tool in promtool:prometheus systemd-analyze:systemd; do
  if ! command -v "${tool%%:*}" >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    echo "== installing ${tool##*:} (${tool%%:*}, for deploy/check.sh)"
    install_pkg() { as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$1"; }
    install_pkg "${tool##*:}" || { as_root apt-get update && install_pkg "${tool##*:}"; } ||
      echo "${tool##*:} could not be installed: deploy/check.sh will skip its checks" >&2
  fi
done

export PATH="$PATH:$(go env GOPATH)/bin"
if ! command -v staticcheck >/dev/null 2>&1; then
  echo "== installing staticcheck"
  go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
fi

echo "== gofmt"
unformatted="$(gofmt -l .)"
if [ -n "$unformatted" ]; then
  echo "not gofmt-formatted:" >&2
  echo "$unformatted" >&2
  exit 1
fi

echo "== go vet"
go vet ./...

echo "== staticcheck"
staticcheck ./...

echo "== deploy files (systemd-analyze, promtool, example config)"
./deploy/check.sh

echo "== go test -race"
go test -race -timeout 15m ./...

for target in "${FUZZ_TARGETS[@]}"; do
  pkg="${target%%:*}"
  name="${target##*:}"
  echo "== fuzz $name in $pkg for ${FUZZTIME:-10s}"
  # A finding always writes its input under testdata/fuzz and fails the run.
  # Go's fuzzer can also end with a bare "context deadline exceeded" when its
  # time runs out while a worker is still minimizing a new input; that is
  # not a finding, so it is reported and the next target runs.
  if ! out="$(go test -run='^$' -fuzz="^${name}\$" -fuzztime="${FUZZTIME:-10s}" -fuzzminimizetime=5s "$pkg" 2>&1)"; then
    echo "$out"
    if grep -q "context deadline exceeded" <<<"$out" && ! grep -q "Failing input written to" <<<"$out"; then
      echo "warning: $name: the fuzzer timed out without a finding" >&2
    else
      exit 1
    fi
  else
    echo "$out" | tail -n 1
  fi
done

echo "== all checks passed"
