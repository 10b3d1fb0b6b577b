#!/usr/bin/env bash
# A/B of perennial-bench flag sets on a GPU machine: builds once (gpu_build.sh), then times the
# ViT-B/16 bf16 SIT step with each flag set in turn, ROUNDS times, alternating, so that every
# set sees the same card in the same state. Prints each run's inference and SIT step lines (ms
# per step, MFU against PEAK) and its CUDA-vs-CPU agreement, and with TRACE_DIR set summarises
# one traced run per flag set.
#
#   bench/gpu_ab.sh "FLAGS A" "FLAGS B" ...
#   e.g. bench/gpu_ab.sh "" "--dtype fp16"     (later flags override the script's own)
#
# Environment: BATCHES (default "256"), ROUNDS (2), ITERATIONS (10), PEAK (989 TFLOP/s: H100
# and H200 SXM dense bf16), ARCH (ViT-B/16), BUILD (build-gpu), TRACE_DIR (unset: no traces),
# TRACE_BATCH (the first of BATCHES).
set -euo pipefail
[[ $# -ge 1 ]] || { sed -n '2,12p' "$0"; exit 2; }
build=${BUILD:-build-gpu}
batches=${BATCHES:-256}
bash "$(dirname "$0")/gpu_build.sh" "$build"
bench="$build/bin/perennial-bench"

for batch in $batches; do
  for round in $(seq "${ROUNDS:-2}"); do
    for flags in "$@"; do
      echo "== batch $batch, round $round: $flags"
      # shellcheck disable=SC2086  # each flag set is split into its words on purpose
      "$bench" --suite clip --arch "${ARCH:-ViT-B/16}" --device cuda --dtype bf16 \
        --batch "$batch" --iterations "${ITERATIONS:-10}" --peak-tflops "${PEAK:-989}" $flags |
        grep -E '"clip_(sit_step|infer|cuda_vs_cpu)_' || echo "(no figure: the run failed)"
    done
  done
done

[[ -n "${TRACE_DIR:-}" ]] || exit 0
mkdir -p "$TRACE_DIR"
trace_batch=${TRACE_BATCH:-${batches%% *}}
set_index=0
for flags in "$@"; do
  set_index=$((set_index + 1))
  echo "== trace, batch $trace_batch: $flags"
  # shellcheck disable=SC2086
  "$bench" --suite clip --arch "${ARCH:-ViT-B/16}" --device cuda --dtype bf16 \
    --batch "$trace_batch" --iterations 2 --trace "$TRACE_DIR/set$set_index.json" $flags \
    >/dev/null
  python3 "$(dirname "$0")/trace_summary.py" "$TRACE_DIR/set$set_index.sit.json" --steps 3
done
