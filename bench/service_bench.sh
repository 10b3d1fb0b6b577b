#!/usr/bin/env bash
# service_bench.sh: the service figures of the performance issue, measured end to end over
# gRPC on loopback against a real perennial-server (embedded default model, default method
# sit+vrlwf, fresh data dir), with `perennial loadgen`:
#   1. ingest: 4 concurrent streams, durable acknowledgements per second (goal >= 5000);
#   2. Classify latency while the learner trains on the backlog phase 1 left (goal p99 < 50 ms):
#      2 clients at QUERY_RATE queries/s each (default 10), so that the learner, which yields
#      to queries, still trains; its steps during the phase are reported beside the latency.
#      QUERY_ARRIVALS=uniform (default: evenly spaced, the clients out of step) or poisson.
#   3. Classify at saturation: SATURATION_CLIENTS clients (default 16) back to back, the learner
#      still on the backlog (it trains only within its pause budget then); answers per second,
#      latency, and the learner's images/s meanwhile. No goal: the figure users size with.
# Prints one JSON line per figure (as perennial-bench does). Usage, from the repository root:
#   bench/service_bench.sh [build/bin] [seconds per phase, default 20]
# Extra server flags go in $SERVER_FLAGS (e.g. "--query-threads 0 --method sit").
set -euo pipefail
BIN=${1:-build/bin}
SECONDS_PER_PHASE=${2:-20}
QUERY_RATE=${QUERY_RATE:-10}
QUERY_ARRIVALS=${QUERY_ARRIVALS:-uniform}
SATURATION_CLIENTS=${SATURATION_CLIENTS:-16}
PY=/usr/bin/python3
source "$(dirname "$0")/server_lib.sh"
data=$(mktemp -d)
trap 'stop_server; rm -rf "$data"' EXIT
start_server "$BIN" "$data/server.log" "$data/d" --metrics-listen "" \
  --checkpoint-interval-s 0 --max-backlog 100000000 ${SERVER_FLAGS:-}
CLI=$BIN/perennial

steps() {
  "$CLI" status --json | "$PY" -c "import json,sys; print(json.load(sys.stdin).get('steps', 0))"
}

ingest=$("$CLI" loadgen --ingest-streams 4 --query-clients 0 --duration "$SECONDS_PER_PHASE" --json)
steps_before=$(steps)
query=$("$CLI" loadgen --ingest-streams 0 --query-clients 2 --query-rate "$QUERY_RATE" \
  --query-arrivals "$QUERY_ARRIVALS" --duration "$SECONDS_PER_PHASE" --json)
steps_after=$(steps)
saturated=$("$CLI" loadgen --ingest-streams 0 --query-clients "$SATURATION_CLIENTS" \
  --duration "$SECONDS_PER_PHASE" --json)
steps_saturated=$(steps)

"$PY" - "$ingest" "$query" "$saturated" "$steps_before" "$steps_after" "$steps_saturated" \
  "$SECONDS_PER_PHASE" <<'PYEOF'
import json, sys
ingest, query, saturated = (json.loads(arg) for arg in sys.argv[1:4])
steps = int(sys.argv[5]) - int(sys.argv[4])
steps_saturated = int(sys.argv[6]) - int(sys.argv[5])
seconds = float(sys.argv[7])
print(json.dumps({
    "name": "service_ingest_4_streams",
    "acked_samples_per_s": round(ingest["acked_samples_per_s"], 1),
    "acked_samples": ingest["acked_samples"],
    "backpressured": ingest["backpressured_samples"],
    "errors": ingest["errors"],
    "goal_acked_samples_per_s": 5000}))


def query_figures(name, run, steps_meanwhile):
    """One Classify phase: latency, throughput, and the learner's images/s meanwhile."""
    return {
        "name": name,
        "p50_ms": round(run["query_p50_ms"], 2),
        "p95_ms": round(run["query_p95_ms"], 2),
        "p99_ms": round(run["query_p99_ms"], 2),
        "max_ms": round(run["query_max_ms"], 2),
        "queries_per_s": round(run["queries_per_s"], 1),
        "query_clients": run["query_clients"],
        "query_arrivals": run["query_arrivals"],
        "learner_steps_meanwhile": steps_meanwhile,
        "learner_images_per_s_meanwhile": round(steps_meanwhile * 16 / seconds, 1),
        "errors": run["errors"]}


print(json.dumps({**query_figures("service_classify_while_training", query, steps),
                  "goal_p99_ms": 50}))
print(json.dumps(query_figures("service_classify_saturated", saturated, steps_saturated)))
PYEOF
