#!/usr/bin/env bash
# The first device call of a GPU session while work written without a GPU is pending: builds
# with the tests (gpu_build.sh), runs the tests whose CUDA cases have not yet run on a GPU and
# the kernel benchmarks not yet run (pending_benches), then times every switch not yet measured
# against the defaults, and all of them together, at one batch (gpu_ab.sh). Sized for one
# 10-minute device call: about a minute to build perennial-bench, one for the tests and
# benchmarks, under a minute per timed run, about one for the closing trace.
#
#   bench/gpu_pending.sh     (BATCHES [512], ROUNDS [1] and the rest as gpu_ab.sh takes them;
#                             PENDING_TRACE=0 skips the closing trace)
#
# Keep the lists current: a test whose CUDA cases have passed on a GPU leaves pending_tests; a
# benchmark whose figures are in bench/README.md leaves pending_benches; a switch that has been
# measured leaves pending_flags (made a default or removed, with its figures in
# bench/README.md).
set -euo pipefail
build=${BUILD:-build-gpu}
# transformer_test is not here: it has no CUDA cases. On the GPU, each timed run's
# clip_cuda_vs_cpu line (gradient cosine against the CPU) checks the whole tower instead.
# Session 26 ran session 24's and 25's CUDA work on an H200 and an H100: fused_lora_grad_test and
# lora_linear_test passed, lora_grad_bench's figures are in bench/README.md, and the one-pass
# LoRA backward paid in the step, so it became the default (--fused-lora-grad 0 to compare).
pending_tests=()
pending_benches=()
pending_flags=()
batches=${BATCHES:-512}

export BUILD_TESTS=ON  # gpu_ab.sh builds again: the same configuration, so nothing to do
bash "$(dirname "$0")/gpu_build.sh" "$build"
if [[ ${#pending_tests[@]} -gt 0 || ${#pending_benches[@]} -gt 0 ]]; then
  ninja -C "$build" "${pending_tests[@]}" "${pending_benches[@]}" | tail -n 1
fi
failed=()
for test in "${pending_tests[@]}"; do
  echo "== $test"
  log="$build/$test.log"
  if "$build/tests/$test" >"$log" 2>&1; then
    grep -E '^\[  (PASSED|SKIPPED) ' "$log" || true
  else
    failed+=("$test")
    tail -n 40 "$log"
  fi
done
echo "== tests failed: ${failed[*]:-none}"
for bench in "${pending_benches[@]}"; do
  echo "== $bench"
  "$build/bin/$bench" || echo "($bench failed)"
done

all_flags="${pending_flags[*]}"
flag_sets=("" "${pending_flags[@]}")
[[ ${#pending_flags[@]} -gt 1 ]] && flag_sets+=("$all_flags")
BATCHES=$batches ROUNDS=${ROUNDS:-1} bash "$(dirname "$0")/gpu_ab.sh" "${flag_sets[@]}"

# Last, so that a call cut short at its time limit has printed the figures above: where a step's
# time goes with every pending switch on (trace_summary.py), the next session's starting point.
if [[ ${PENDING_TRACE:-1} == 1 ]]; then
  echo "== trace, batch ${batches%% *}: $all_flags"
  trace="$build/pending_trace.json"
  # shellcheck disable=SC2086  # the flag set is split into its words on purpose
  "$build/bin/perennial-bench" --suite clip --arch "${ARCH:-ViT-B/16}" --device cuda \
    --dtype bf16 --batch "${batches%% *}" --iterations 2 --trace "$trace" $all_flags >/dev/null &&
    python3 "$(dirname "$0")/trace_summary.py" "${trace%.json}.sit.json" --steps 3 ||
    echo "(no trace: the run failed)"
fi
[[ ${#failed[@]} -eq 0 ]]
