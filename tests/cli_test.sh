#!/usr/bin/env bash
# End-to-end test of the `perennial` CLI on the reference fixtures: JSON on stdout, errors on
# stderr with a non-zero exit. Usage: cli_test.sh PATH/TO/perennial (run from the repo root).
set -uo pipefail
BIN=${1:?usage: cli_test.sh PATH/TO/perennial}
PY=/usr/bin/python3
FIX=tests/fixtures
MODEL=$FIX/tiny_clip/openai_fp32.safetensors
source "$(dirname "$0")/cli_test_lib.sh"

out=$("$BIN" tokenize "a photo of a cat." "")
check tokenize "assert lines[0]['ids'] == [49406, 320, 1125, 539, 320, 2368, 269, 49407], lines; assert lines[1]['ids'] == [49406, 49407]"

out=$("$BIN" model info --model "$MODEL")
check model-info "c = lines[0]['config']; assert (c['embed_dim'], c['image_resolution'], c['vision_layers'], c['vision_width'], c['vision_patch_size'], c['text_width'], c['text_layers'], c['vocab_size'], c['context_length']) == (32, 32, 2, 64, 8, 32, 2, 49408, 77), c; assert lines[0]['parameters']['total'] > 1500000"

img=$(ls $FIX/images/*.png | head -1)
out=$("$BIN" embed --model "$MODEL" --image "$img" --text "a dog" --text "a cat" --threads 1)
check embed "o = lines[0]; assert len(o['image_features']) == 1 and len(o['image_features'][0]) == 32; assert len(o['text_features']) == 2 and len(o['text_features'][1]) == 32"

out=$("$BIN" classify --model "$MODEL" --image "$img" --labels "cat,dog,bird" --template "a {}." --template "a photo of a {}.")
check classify "o = lines[0]; assert o['labels'] == ['cat', 'dog', 'bird']; assert abs(sum(o['probs']) - 1) < 1e-5; assert len(o['logits']) == 3"

# --jpeg-draft: the test model's 32 px input keeps a 256x200 JPEG at 1/2 (128x100), exactly the
# pixels of Pillow's Image.draft; without it, the full decode.
jpeg_dir=$(mktemp -d)
"$PY" -c "
import numpy as np; from PIL import Image
rng = np.random.default_rng(3); y, x = np.mgrid[0:200, 0:256]
px = np.stack([x, y, (x + y) // 2], -1) + rng.normal(0, 20, (200, 256, 3))
Image.fromarray(np.clip(px, 0, 255).astype(np.uint8)).save('$jpeg_dir/photo.jpg', quality=90)
im = Image.open('$jpeg_dir/photo.jpg'); im.draft('RGB', (64, 64)); assert im.size == (128, 100)
im.convert('RGB').save('$jpeg_dir/drafted.png')"
embed_features() { "$BIN" embed --model "$MODEL" --threads 1 "$@" | "$PY" -c "import json,sys; print(json.dumps(json.load(sys.stdin)['image_features'][0]))"; }
out=$(embed_features --image "$jpeg_dir/photo.jpg" --jpeg-draft; embed_features --image "$jpeg_dir/drafted.png"; embed_features --image "$jpeg_dir/photo.jpg")
check embed-jpeg-draft "d = lambda a, b: max(abs(p - q) for p, q in zip(a, b)); assert d(lines[0], lines[1]) < 1e-6, d(lines[0], lines[1]); assert d(lines[0], lines[2]) > 1e-4, d(lines[0], lines[2])"
rm -rf "$jpeg_dir"

# bench-cl on a 200-sample Fashion-MNIST stream: the table, the JSON and (with matplotlib) the plot.
bench_dir=$(mktemp -d)
out=$("$BIN" bench-cl --model "$MODEL" --methods frozen,sit --seeds 1,2 --max-train 200 --test-per-class 5 --eval-period 100 --probe-samples 5 --threads 1 --out "$bench_dir" 2>/dev/null | grep '^| ' | tr '\n' ' ' | "$PY" -c "import json,sys; print(json.dumps(sys.stdin.read()))")
check bench-cl-table "t = lines[0]; assert '| method | A_auc' in t and '| frozen |' in t and '| sit |' in t, t"
out=$(cat "$bench_dir/results.json" 2>/dev/null | "$PY" -c "import json,sys; print(json.dumps(json.load(sys.stdin)))")
check bench-cl-json "m = lines[0]['methods']; assert sorted(m) == ['frozen', 'sit']; r = m['frozen'][0]; assert [x['seed'] for x in m['sit']] == [1, 2]; assert r['samples_trained'] == 200 and len(r['curve']) == 2 and 0 <= r['a_auc'] <= 1 and r['zero_shot_retention'] == 1.0, r"
if "$PY" -c "import matplotlib" 2>/dev/null; then
  if [ -s "$bench_dir/curves.png" ]; then passes=$((passes + 1)); else echo "FAILED: bench-cl-plot"; failures=$((failures + 1)); fi
fi
rm -rf "$bench_dir"
expect_error bench-cl-bad-method "unknown" "$BIN" bench-cl --model "$MODEL" --methods sit,nonsense --max-train 10

# The embedded default model (models/perennial-tiny-clip.safetensors) without --model: a blue disc.
disc=$(mktemp --suffix=.png)
"$PY" -c "from PIL import Image, ImageDraw; im = Image.new('RGB', (64, 64), (235, 235, 235)); ImageDraw.Draw(im).ellipse((18, 18, 46, 46), fill=(40, 90, 220)); im.save('$disc')"
out=$("$BIN" classify --image "$disc" --labels "red,green,blue,yellow,purple" --template "something {}." --threads 1)
check default-model-reads-colour "p = lines[0]['probs']; assert max(range(5), key=lambda i: p[i]) == 2 and p[2] > 0.9, p"
out=$("$BIN" classify --image "$disc" --labels "red,green,blue,yellow,purple" --template "something {}." --threads 1 --dtype bf16)
check bf16-reads-colour-too "p = lines[0]['probs']; assert max(range(5), key=lambda i: p[i]) == 2 and p[2] > 0.9, p"
out=$("$BIN" classify --image "$disc" --labels "red,green,blue,yellow,purple" --template "something {}." --threads 1 --dtype auto)
check auto-dtype-reads-colour "p = lines[0]['probs']; assert max(range(5), key=lambda i: p[i]) == 2 and p[2] > 0.9, p"
expect_error bad-dtype "fp8" "$BIN" classify --image "$disc" --labels a,b --dtype fp8
rm -f "$disc"
# ... and its card's zero-shot table (models/README.md, from models/*.eval.json) reproduces.
for combinations in held-out seen; do
  flag=$([ $combinations = seen ] && echo --seen-combinations)
  out=$("$BIN" eval-zero-shot --samples 500 $flag)
  check "default-model-card-$combinations" "card = json.load(open('models/perennial-tiny-clip.eval.json'))['$combinations']; got = {p['task']: p['accuracy'] for p in lines[0]['probes']}; assert set(got) == set(card) and all(abs(got[t] - card[t]) <= 0.01 for t in card), (got, card)"
done

expect_error missing-model "No such file" "$BIN" model info --model /nonexistent/model.safetensors
expect_error not-a-model "$FIX/tokenizer_ids.json" "$BIN" model info --model $FIX/tokenizer_ids.json
expect_error corrupt-image "image" "$BIN" classify --model "$MODEL" --image $FIX/tokenizer_ids.json --labels a,b
expect_error empty-label "empty label" "$BIN" classify --model "$MODEL" --image "$img" --labels "a,,b"
expect_error bad-template "{}" "$BIN" classify --model "$MODEL" --image "$img" --labels a,b --template "no placeholder"
expect_error bad-device "--device" "$BIN" embed --model "$MODEL" --text a --device tpu
expect_error no-args "" "$BIN"

# perennial itself links no LibTorch (it starts in milliseconds); the model commands above ran
# in perennial-model, which it started. Without perennial-model beside it, they say so.
if ldd "$BIN" | grep -q libtorch; then
  echo "FAILED: $BIN links LibTorch"; failures=$((failures + 1))
else
  passes=$((passes + 1))
fi
lone=$(mktemp -d)
cp "$BIN" "$lone/perennial"
expect_error model-program-missing "runs in $lone/perennial-model" "$lone/perennial" tokenize a
out=$("$lone/perennial" --version)
[ "$out" = "perennial 0.1.0" ] && passes=$((passes + 1)) || { echo "FAILED: --version: $out"; failures=$((failures + 1)); }
rm -rf "$lone"

echo "cli_test: $passes passed, $failures failed"
[ $failures -eq 0 ]
