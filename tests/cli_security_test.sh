#!/usr/bin/env bash
# perennial-server with TLS and bearer tokens, reached by the `perennial` CLI: a CA and a server
# certificate for 127.0.0.1 made here with openssl, a token file with a comment and two tokens
# (rotation). Checks that the right token over TLS works (status, query-embed), that a missing,
# wrong or plaintext call is refused with a clear message, that mutual TLS refuses a client
# without a certificate, and that bad security flags stop the server before it binds.
# Usage: cli_security_test.sh PATH/TO/perennial PATH/TO/perennial-server (from the repo root).
set -uo pipefail
CLI=${1:?usage: cli_security_test.sh PATH/TO/perennial PATH/TO/perennial-server}
SERVER=${2:?usage: cli_security_test.sh PATH/TO/perennial PATH/TO/perennial-server}
PY=/usr/bin/python3
MODEL=tests/fixtures/tiny_clip/openai_fp32.safetensors
if ! command -v openssl >/dev/null; then
  echo "cli_security_test: openssl is not installed"; [ "${CI:-}" != true ]; exit $?
fi
dir=$(mktemp -d)
server_pid=
trap '[ -n "$server_pid" ] && kill $server_pid 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
source "$(dirname "$0")/cli_test_lib.sh"

"$(dirname "$0")/make_test_certs.sh" "$dir" || { echo "cannot make certificates"; exit 1; }
printf '# rotated in 2026-11\nold-token-1234\n\nnew-token-5678\n' > "$dir/tokens"
printf 'new-token-5678\n' > "$dir/client-token"

start_server() {  # start_server LOG EXTRA-FLAGS...: sets server_pid and port
  local log=$1; shift
  "$SERVER" --listen 127.0.0.1:0 --metrics-listen "" --data-dir "$dir/data" --model "$MODEL" \
    --threads 1 --method frozen --checkpoint-interval-s 0 "$@" >"$log" 2>&1 &
  server_pid=$!
  for _ in $(seq 600); do grep -q '^serving' "$log" && break; sleep 0.1; done
  port=$(sed -n 's/.*gRPC on [^ ,]*:\([0-9]*\).*/\1/p' "$log" | head -1)
  [ -n "$port" ] || { echo "server did not start:"; cat "$log"; exit 1; }
}
stop_server() {
  kill -TERM $server_pid; wait $server_pid; server_pid=
}

start_server "$dir/tls.log" --tls-cert "$dir/server.pem" --tls-key "$dir/server.key" \
  --auth-token-file "$dir/tokens"
out=$(grep -o 'TLS, bearer token required' "$dir/tls.log" | head -1 | "$PY" -c 'import json,sys; print(json.dumps({"line": sys.stdin.read().strip()}))')
check startup-says-tls-and-tokens "assert lines[0]['line'] == 'TLS, bearer token required', lines[0]"
S=127.0.0.1:$port
out=$("$CLI" status --server "$S" --tls-ca "$dir/ca.pem" --token-file "$dir/client-token" --json)
check status-with-token "assert lines[0]['health'] == 'SERVING', lines[0]"
out=$(PERENNIAL_TOKEN=old-token-1234 "$CLI" query-embed --server "$S" --tls-ca "$dir/ca.pem" --text "a bag.")
check old-token-from-env "assert len(lines[0]['text_embeddings']) == 1, lines[0]"
expect_error missing-token "requires a bearer token" \
  "$CLI" status --server "$S" --tls-ca "$dir/ca.pem"
expect_error wrong-token "not accepted" \
  env PERENNIAL_TOKEN=guess "$CLI" status --server "$S" --tls-ca "$dir/ca.pem"
expect_error plaintext-to-tls "$S" \
  "$CLI" status --server "$S" --token-file "$dir/client-token" --timeout 3
expect_error untrusted-ca "$S" \
  "$CLI" status --server "$S" --tls --token-file "$dir/client-token" --timeout 3
expect_error unreadable-token-file "--token-file" \
  "$CLI" status --server "$S" --token-file "$dir/nope"
stop_server

start_server "$dir/mtls.log" --tls-cert "$dir/server.pem" --tls-key "$dir/server.key" \
  --tls-client-ca "$dir/ca.pem"
S=127.0.0.1:$port
out=$("$CLI" status --server "$S" --tls-ca "$dir/ca.pem" --tls-cert "$dir/client.pem" \
  --tls-key "$dir/client.key" --json)
check mutual-tls "assert lines[0]['health'] == 'SERVING', lines[0]"
expect_error mutual-tls-needs-client-cert "$S" \
  "$CLI" status --server "$S" --tls-ca "$dir/ca.pem" --timeout 3
stop_server

printf '# nothing\n' > "$dir/empty-tokens"
expect_error empty-token-file "no token in it" \
  "$SERVER" --listen 127.0.0.1:0 --metrics-listen "" --data-dir "$dir/data" --model "$MODEL" \
  --auth-token-file "$dir/empty-tokens"
expect_error cert-without-key "give both or neither" \
  "$SERVER" --listen 127.0.0.1:0 --metrics-listen "" --data-dir "$dir/data" --model "$MODEL" \
  --tls-cert "$dir/server.pem"
expect_error key-is-not-pem "not a PEM file" \
  "$SERVER" --listen 127.0.0.1:0 --metrics-listen "" --data-dir "$dir/data" --model "$MODEL" \
  --tls-cert "$dir/server.pem" --tls-key "$dir/tokens"
expect_error bad-dtype-before-bind "--dtype" \
  "$SERVER" --listen 127.0.0.1:0 --metrics-listen "" --data-dir "$dir/data" --model "$MODEL" \
  --dtype fp8
expect_error missing-device-before-store "no CUDA device" \
  "$SERVER" --listen 127.0.0.1:0 --metrics-listen "" --data-dir "$dir/device-data" \
  --model "$MODEL" --device cuda
expect_error bad-device-name "is not cpu, cuda or cuda:N" \
  "$SERVER" --listen 127.0.0.1:0 --metrics-listen "" --data-dir "$dir/device-data" \
  --model "$MODEL" --device tpu
if [ -e "$dir/device-data" ]; then
  echo "FAILED: a bad --device created the data directory"; failures=$((failures + 1))
else
  passes=$((passes + 1))
fi

echo "cli_security_test: $passes passed, $failures failed"
[ $failures -eq 0 ]
