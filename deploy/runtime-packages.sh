#!/usr/bin/env bash
# Prints the Debian packages that own the shared libraries the given executables load, one per
# line, sorted: the runtime dependencies of a build, for a slim image without -dev packages.
#
#   deploy/runtime-packages.sh build/bin/perennial-server build/bin/perennial build/bin/perennial-model
#
# Used by deploy/Dockerfile between its build and runtime stages. Fails if a library is missing
# or belongs to no package (a library built by hand would not exist in the runtime image).
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: $0 EXECUTABLE..." >&2; exit 2; }

libs=$(ldd "$@" | awk '/not found/ { print "MISSING " $1 } /=> \// { print $3 }' | sort -u)
if grep -q '^MISSING' <<<"$libs"; then
  echo "runtime-packages: unresolved libraries: $(grep '^MISSING' <<<"$libs" | tr '\n' ' ')" >&2
  exit 1
fi

for lib in $libs; do
  # Debian 12 is usr-merged: a library may be registered under /lib or /usr/lib, and may be an
  # alternatives symlink (libblas.so.3): try the path as loaded, then its canonical path.
  owner=$(dpkg -S "$lib" 2>/dev/null || dpkg -S "$(realpath "$lib")" 2>/dev/null ||
          dpkg -S "${lib/#\/lib\//\/usr\/lib\/}" 2>/dev/null || true)
  if [ -z "$owner" ]; then
    echo "runtime-packages: no package owns $lib" >&2
    exit 1
  fi
  # "libfoo1:amd64, libfoo1-dbg:amd64: /path" -> libfoo1 (the first owner; arch dropped).
  echo "${owner%%:*}" | cut -d, -f1
done | sort -u
