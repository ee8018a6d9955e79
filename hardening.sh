#!/usr/bin/env bash
# The long hardening run (README "Reliability"): every fuzz target of
# test.sh's FUZZ_TARGETS for FUZZTIME each, then the torture, limit and fault
# tests REPEAT times with the race detector and bigger floods and loads.
# test.sh runs the same things briefly. Everything is bounded in time:
# about (targets x FUZZTIME) + REPEAT x 2 minutes.
#
#   ./hardening.sh                          # 5m per fuzz target, 3 repeats
#   FUZZTIME=30s REPEAT=1 ./hardening.sh    # a quicker pass
#
# FUZZPARALLEL (default 1) is the fuzzing workers per target: the machine is
# shared, so one core by default. A crash leaves its input under the
# package's testdata/fuzz/<Name>/ for `go test -run <Name>/<file>`.
set -euo pipefail
cd "$(dirname "$0")"

FUZZTIME="${FUZZTIME:-5m}"
FUZZPARALLEL="${FUZZPARALLEL:-1}"
REPEAT="${REPEAT:-3}"

# The fuzz targets are test.sh's list, so the two never drift apart.
eval "$(sed -n '/^FUZZ_TARGETS=(/,/^)/p' test.sh)"

for target in "${FUZZ_TARGETS[@]}"; do
  pkg="${target%%:*}"
  name="${target##*:}"
  echo "== fuzz $name in $pkg for $FUZZTIME"
  go test -run='^$' -fuzz="^${name}\$" -fuzztime="$FUZZTIME" -parallel="$FUZZPARALLEL" "$pkg"
done

echo "== torture, limits and faults, $REPEAT times, with the race detector"
# Bigger than in test.sh: 1000 slow connections per interface, 5 s of load
# before the SIGTERM.
CTC_FLOOD="${CTC_FLOOD:-1000}" CTC_LOAD_MS="${CTC_LOAD_MS:-5000}" \
  go test -race -count="$REPEAT" -timeout 60m \
  -run 'Torture|Oversize|Slowloris|CallRate|TotalCallRate|AClientOverItsRate|ConcurrentCallsToOneInitiator|XMLClientThatDisconnects|SIGTERMUnderLoad|SIGKILLThenRestart' \
  ./cmd/clicktocall
go test -race -count="$REPEAT" -timeout 60m \
  -run 'PhoneThatStopsAnswering|PhoneSendingGarbage|NotifyOfAnotherSubscription|PeerThatResetsTCP|ThousandConcurrentCalls' \
  ./actors
go test -race -count="$REPEAT" -timeout 30m -run 'ConnectionRefusals|ConnectionLimits|ClientThatNeverFinishes|SlowClient|Oversize' ./frontends/http
go test -race -count="$REPEAT" -timeout 30m -run 'EveryLimit|Trickling|ConnectionLimits|ClientThatDoesNotRead|ClientClosingMidCall|Idle' ./frontends/xml

echo "== hardening passed"
