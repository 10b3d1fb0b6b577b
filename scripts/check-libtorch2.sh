#!/usr/bin/env bash
# Compiles (syntax only) every source of the model-only build against LibTorch 2.x headers, so
# that the `TORCH_VERSION_MAJOR >= 2` branches are checked on this CPU machine before a GPU
# machine's scarce time is spent on them. The headers come from Debian trixie's libtorch-dev
# (2.6), unpacked into a cache directory; nothing is installed and nothing is linked.
#
#   scripts/check-libtorch2.sh [cache dir]      (default: /tmp/perennial-libtorch2)
#   CXX_STD=c++17 scripts/check-libtorch2.sh    (default c++20: the GPU machine's PyTorch 2.11
#                                                headers need it, so its build is C++20)
#
# Limits: Debian's LibTorch has no CUDA, so code compiled only where LibTorch has CUDA (the CUDA
# allocator and CUDA graph parts of bench/) is not checked; nor are 2.11's own header changes.
# Exit status: 0 when every file compiles without errors, 1 otherwise.
set -euo pipefail
if [[ ${1:-} == -h || ${1:-} == --help ]]; then
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
  exit 0
fi
cache=${1:-/tmp/perennial-libtorch2}
std=${CXX_STD:-c++20}
root=$(cd "$(dirname "$0")/.." && pwd)
headers="$cache/include"

if [[ ! -f "$headers/torch/csrc/api/include/torch/version.h" ]]; then
  echo "check-libtorch2: fetching trixie's libtorch-dev headers into $cache" >&2
  mkdir -p "$cache/apt/lists/partial" "$cache/apt/cache/archives/partial"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg]" \
    "http://deb.debian.org/debian trixie main" >"$cache/apt/sources.list"
  apt_flags=(-o "Dir::Etc::SourceList=$cache/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
             -o "Dir::State::Lists=$cache/apt/lists" -o "Dir::Cache=$cache/apt/cache"
             -o APT::Sandbox::User=root)
  apt-get "${apt_flags[@]}" -qq update
  (cd "$cache" && apt-get "${apt_flags[@]}" -qq download libtorch-dev)
  rm -rf "$cache/unpacked" && dpkg-deb -x "$cache"/libtorch-dev_*.deb "$cache/unpacked"
  rm -rf "$headers" && mv "$cache/unpacked/usr/include" "$headers"
  rm -rf "$cache/unpacked" "$cache"/libtorch-dev_*.deb
fi
version_h="$headers/torch/csrc/api/include/torch/version.h"
echo "check-libtorch2: LibTorch $(awk '/define TORCH_VERSION_(MAJOR|MINOR|PATCH) / {printf "%s%s", sep, $3; sep="."}' "$version_h") headers" >&2

# The model-only build's compile commands, configured against this machine's LibTorch 1.13; the
# 2.x headers are put first on each command's search path.
build="$cache/build-mo"
cmake -S "$root" -B "$build" -G Ninja -DPERENNIAL_MODEL_ONLY=ON -DPERENNIAL_BUILD_TESTS=ON \
  -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >/dev/null

/usr/bin/python3 - "$build/compile_commands.json" "$headers" "$root" "$std" <<'PY'
import concurrent.futures, json, os, shlex, subprocess, sys

commands, headers, root, std = json.load(open(sys.argv[1])), *sys.argv[2:5]


def check(entry):
    args = shlex.split(entry["command"])
    if "-o" in args:
        at = args.index("-o")
        del args[at:at + 2]
    args = [a for a in args if not a.startswith("-std=")]
    args[1:1] = ["-isystem", headers, "-isystem", headers + "/torch/csrc/api/include",
                 "-fsyntax-only", "-std=" + std]
    run = subprocess.run(args, cwd=entry["directory"], capture_output=True, text=True)
    return entry["file"], run.returncode == 0, run.stderr


failed = 0
with concurrent.futures.ThreadPoolExecutor(os.cpu_count()) as pool:
    for done, (path, ok, stderr) in enumerate(pool.map(check, commands), 1):
        print(f"\r[{done}/{len(commands)}] {os.path.relpath(path, root)}\033[K", end="",
              file=sys.stderr, flush=True)
        if not ok or stderr:
            failed += not ok
            print("\n" + stderr, file=sys.stderr)
print(file=sys.stderr)
print(f"check-libtorch2: {len(commands)} files as {std}, {failed} with errors")
sys.exit(1 if failed else 0)
PY
