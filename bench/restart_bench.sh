#!/usr/bin/env bash
# restart_bench.sh: how long a perennial-server restart takes until it serves again, on a data
# directory whose log holds camera-sized photos (640x480 JPEGs, bench/make_photo_set.py) with
# every $EVAL_EVERY-th one (default 2) logged as EVAL. Start-up refills the anytime-evaluation
# set from the EVAL samples among the last 20,000 logged, and decoding photos is what costs
# there. Fills a fresh data dir (ingest, then the learner catches up), restarts the server
# $ROUNDS times (default 3; SIGTERM, i.e. drain and checkpoint, between them) and prints the
# median seconds from exec to the "serving" line, beside the same figure for an empty data dir
# (the floor: loading the model, opening the store). Server defaults plus $SERVER_FLAGS.
# Prints one JSON line. Usage, from the repository root:
#   bench/restart_bench.sh [build/bin] [images per class, default 200]
set -euo pipefail
BIN=${1:-build/bin}
PER_CLASS=${2:-200}
EVAL_EVERY=${EVAL_EVERY:-2}
ROUNDS=${ROUNDS:-3}
PY=/usr/bin/python3
source "$(dirname "$0")/server_lib.sh"
work=$(mktemp -d)
trap 'stop_server; rm -rf "$work"' EXIT
"$PY" "$(dirname "$0")/make_photo_set.py" "$work/photos" "$PER_CLASS" >&2
total=$((PER_CLASS * 10))

# Seconds from exec until DATA_DIR's server serves; it is stopped again.
time_start() {
  local t0 t1
  t0=$(date +%s.%N)
  start_server "$BIN" "$work/server.log" "$1" --metrics-listen "" ${SERVER_FLAGS:-}
  t1=$(date +%s.%N)
  stop_server
  echo "$t1 - $t0" | bc
}

start_server "$BIN" "$work/server.log" "$work/d" --metrics-listen "" ${SERVER_FLAGS:-}
"$BIN/perennial" ingest --folder "$work/photos" --order iid --eval-every "$EVAL_EVERY" \
  >/dev/null 2>&1
cursor() {
  "$BIN/perennial" status --json | "$PY" -c 'import json, sys
print(json.load(sys.stdin).get("cursor", 0))'
}
until [ "$(cursor)" -ge "$total" ]; do sleep 0.5; done
stop_server

filled=() empty=()
for round in $(seq "$ROUNDS"); do
  filled+=("$(time_start "$work/d")")
  empty+=("$(time_start "$work/empty-$round")")
done
"$PY" - "$total" "$EVAL_EVERY" "${SERVER_FLAGS:-}" "${filled[*]}" "${empty[*]}" <<'PYEOF'
import json, statistics, sys
total, eval_every, flags = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
filled, empty = ([float(x) for x in arg.split()] for arg in sys.argv[4:6])
print(json.dumps({"name": "service_restart_photos_640x480",
                  "seconds_to_serving": round(statistics.median(filled), 2),
                  "runs": [round(x, 2) for x in filled],
                  "empty_data_dir_seconds": round(statistics.median(empty), 2),
                  "logged_samples": total, "eval_samples_logged": total // eval_every,
                  "server_flags": flags}))
PYEOF
