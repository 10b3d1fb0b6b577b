#!/usr/bin/env bash
# photo_stream_bench.sh: how fast the service's learner trains on camera-sized photos (640x480
# JPEGs, bench/make_photo_set.py), where decoding and resizing cost more than the embedded
# model's training step. Starts a real perennial-server (fresh data dir, server defaults plus
# $SERVER_FLAGS), ingests the set with `perennial ingest --folder`, and times the learner from
# the end of the ingest until it has trained every sample (no queries meanwhile). Then pauses
# the learner and runs $QUERY_CLIENTS (16) back-to-back Classify clients on the photos for
# $QUERY_SECONDS (8): what a photo query costs (its decode and resize are most of it). Last,
# times durable ingest of the same photos (fresh keys) from 4 `perennial loadgen` streams for
# $INGEST_SECONDS (default 10): what Ingest's checks cost per photo.
# Prints three JSON lines. Usage, from the repository root:
#   bench/photo_stream_bench.sh [build/bin] [images per class, default 200]
# e.g. SERVER_FLAGS="--jpeg-draft true" bench/photo_stream_bench.sh
set -euo pipefail
BIN=${1:-build/bin}
PER_CLASS=${2:-200}
PY=/usr/bin/python3
source "$(dirname "$0")/server_lib.sh"
work=$(mktemp -d)
trap 'stop_server; rm -rf "$work"' EXIT
"$PY" "$(dirname "$0")/make_photo_set.py" "$work/photos" "$PER_CLASS"
total=$((PER_CLASS * 10))
start_server "$BIN" "$work/server.log" "$work/d" --metrics-listen 127.0.0.1:0 \
  --checkpoint-interval-s 0 ${SERVER_FLAGS:-}
metrics=$metrics_url
# Polled with curl: the learner's progress without a gRPC call.
metric() { curl -s "$metrics" | awk -v name="$1" '$1 == name {print $2}'; }
"$BIN/perennial" ingest --folder "$work/photos" --order iid >/dev/null 2>&1
start=$(metric perennial_learner_samples_trained_total); t0=$(date +%s.%N)
caught_up() { awk -v cursor="$(metric perennial_learner_cursor)" -v total="$total" \
                'BEGIN { exit !(cursor + 0 >= total) }'; }
until caught_up; do sleep 0.2; done
end=$(metric perennial_learner_samples_trained_total); t1=$(date +%s.%N)
"$PY" - "$start" "$end" "$t0" "$t1" "${SERVER_FLAGS:-}" <<'PYEOF'
import json, sys
seconds = float(sys.argv[4]) - float(sys.argv[3])
trained = int(float(sys.argv[2])) - int(float(sys.argv[1]))
print(json.dumps({"name": "service_learner_photos_640x480",
                  "images_per_s": round(trained / seconds, 1), "images_trained": trained,
                  "seconds": round(seconds, 2), "server_flags": sys.argv[5]}))
PYEOF
"$BIN/perennial" pause >/dev/null
"$BIN/perennial" loadgen --folder "$work/photos" --ingest-streams 0 \
  --query-clients "${QUERY_CLIENTS:-16}" --duration "${QUERY_SECONDS:-8}" --json 2>/dev/null |
  tail -n 1 | "$PY" -c 'import json, sys
report = json.load(sys.stdin)
print(json.dumps({"name": "service_classify_photos_640x480",
                  "answers_per_s": round(report["queries_per_s"], 1),
                  "p50_ms": round(report["query_p50_ms"], 2),
                  "p99_ms": round(report["query_p99_ms"], 2),
                  "clients": report["query_clients"], "errors": report["errors"],
                  "learner": "paused", "server_flags": sys.argv[1]}))' "${SERVER_FLAGS:-}"
"$BIN/perennial" loadgen --folder "$work/photos" --ingest-streams 4 --query-clients 0 \
  --duration "${INGEST_SECONDS:-10}" --json 2>/dev/null | tail -n 1 |
  "$PY" -c 'import json, sys
report = json.load(sys.stdin)
print(json.dumps({"name": "service_ingest_photos_640x480_4_streams",
                  "acked_samples_per_s": round(report["acked_samples_per_s"], 1),
                  "acked_samples": report["acked_samples"], "errors": report["errors"],
                  "seconds": round(report["seconds"], 2), "learner": "paused"}))'
