#!/usr/bin/env bash
# GPU figures of the performance issue, on a machine with an NVIDIA GPU and PyTorch but no apt:
# builds perennial-bench with PERENNIAL_MODEL_ONLY=ON against the LibTorch inside PyTorch, then
# prints the ViT-B/16 bf16 SIT step (MFU against the card's dense bf16 peak; eager, and with the
# image tower replayed from CUDA graphs) for a few batch sizes, the online learner on CUDA (sit and sit+vrlwf, fp32 and bf16), and the PyTorch peer of
# the same step (bench/torch_peer.py).
#
#   bench/gpu_bench.sh [build dir] [peak TFLOP/s]     (defaults: build-gpu, 989 = H100/H200 SXM)
#
# Environment: BATCHES (ViT-B/16 batch sizes, default "256 512 768": MFU rises up to 512 and
# levels off, sessions 12 and 18 on an H200; 768 needs ~42 GiB), PEER_COMPILE=0 to skip the
# torch.compile peer (its compilation takes about a minute), PEER_PROFILE=1 to print the peer's
# top GPU kernels.
set -euo pipefail
build=${1:-build-gpu}
peak=${2:-989}
batches=${BATCHES:-"256 512 768"}

bash "$(dirname "$0")/gpu_build.sh" "$build"

bench="$build/bin/perennial-bench"
for b in $batches; do
  "$bench" --suite clip --arch ViT-B/16 --device cuda --dtype bf16 --batch "$b" \
    --iterations 10 --peak-tflops "$peak" --cuda-graph 1
done
# sit+vrlwf replays words; GPU machines without wamerican get the word-final tokens of CLIP's
# BPE vocabulary instead (merges "a b" whose result ends a word: mostly whole words, some
# suffixes; the speed figure does not depend on which words).
words=/usr/share/dict/words
if [[ ! -r $words ]]; then
  words=$(mktemp)
  word_final='NR > 1 && n < 30000 { w = $1 $2 }
              w ~ /^[a-z]+<\/w>$/ { sub(/<\/w>$/, "", w); print w; n++; w = "" }'
  awk "$word_final" third_party/clip/bpe_simple_vocab_16e6.txt > "$words"
fi
for dtype in fp32 bf16; do
  "$bench" --suite learner --device cuda --dtype "$dtype" --steps 100 --methods sit,sit+vrlwf \
    --words "$words"
done
for b in $batches; do
  PYTHONUNBUFFERED=1 python3 bench/torch_peer.py --arch ViT-B/16 --batch "$b" --dtype bf16 \
    --peak-tflops "$peak" ${PEER_PROFILE:+--profile}
done
if [[ "${PEER_COMPILE:-1}" != 0 ]]; then
  PYTHONUNBUFFERED=1 timeout 240 python3 bench/torch_peer.py --arch ViT-B/16 --batch 256 \
    --dtype bf16 --peak-tflops "$peak" --compile || echo "torch.compile peer did not finish"
fi
