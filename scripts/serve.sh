#!/usr/bin/env bash
# `make serve`: runs perennial-server on the embedded default model with its defaults (gRPC on
# 127.0.0.1:50051, /metrics on 127.0.0.1:9464, data in ./perennial-data, method sit+vrlwf).
# Extra arguments go to the server, e.g. `make serve ARGS="--method sit"`.
set -euo pipefail
BUILD_DIR=${1:-build}
shift || true
exec "$BUILD_DIR/bin/perennial-server" "$@"
