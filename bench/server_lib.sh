# server_lib.sh: sourced by the service benchmarks (bash); starts a perennial-server for them.
#
# start_server BIN_DIR LOG DATA_DIR [SERVER FLAGS...]
#   Starts BIN_DIR/perennial-server on a free loopback gRPC port with its output in LOG and
#   waits (60 s at most) until it prints "serving". Sets server_pid, exports PERENNIAL_SERVER
#   (host:port, which `perennial` reads) and sets metrics_url (empty when the flags turn
#   /metrics off). Exits the calling script with the log when the server does not start.
#   Pass --metrics-listen: its default is a fixed port.
start_server() {
  local bin=$1 log=$2 dir=$3
  shift 3
  "$bin/perennial-server" --listen 127.0.0.1:0 --data-dir "$dir" "$@" >"$log" 2>&1 &
  server_pid=$!
  # Polled finely: restart_bench.sh times this wait.
  for _ in $(seq 3000); do
    grep -q '^serving' "$log" && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.02
  done
  local port
  port=$(sed -n 's/.*gRPC on [^ ,]*:\([0-9]*\).*/\1/p' "$log" | head -1)
  if ! grep -q '^serving' "$log" || [ -z "$port" ]; then
    echo "$(basename "$0"): perennial-server did not start:" >&2
    cat "$log" >&2
    exit 1
  fi
  export PERENNIAL_SERVER=127.0.0.1:$port
  metrics_url=$(sed -n 's|.*metrics on \(http://[^ ,]*\).*|\1|p' "$log" | head -1)
}

# stop_server: SIGTERM (the server drains and checkpoints), then waits for it to exit.
stop_server() {
  if [ -n "${server_pid:-}" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  server_pid=
}
