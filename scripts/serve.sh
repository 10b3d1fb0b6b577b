#!/usr/bin/env bash
# Runs the service on the embedded default model. The gRPC server (issue 6) has not landed yet;
# until it does this says so honestly instead of pretending.
set -euo pipefail
BUILD_DIR=${1:-build}
if [ -x "$BUILD_DIR/bin/perennial-server" ]; then
  exec "$BUILD_DIR/bin/perennial-server"
fi
echo "perennial-server is not built yet: the service lands with issue 6 (gRPC API, RocksDB store)." >&2
echo "What works today: $BUILD_DIR/bin/perennial --help (tokenize, embed, classify, model info)." >&2
exit 1
