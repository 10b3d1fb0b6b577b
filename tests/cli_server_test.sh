#!/usr/bin/env bash
# The `perennial` CLI against a real perennial-server (method sit, tiny fixture model, temp data
# dir, free port): ingest a Fashion-MNIST slice (and again: all duplicates), files with a label
# (a corrupt one is rejected with a reason), status, checkpoint, checkpoints, pause/resume,
# labels-set, probes-set, vocab-add, query, query-embed (also in several calls), a short loadgen,
# and clear errors for a missing checkpoint, a missing file and an unreachable server.
# Usage: cli_server_test.sh PATH/TO/perennial PATH/TO/perennial-server (from the repo root).
set -uo pipefail
CLI=${1:?usage: cli_server_test.sh PATH/TO/perennial PATH/TO/perennial-server}
SERVER=${2:?usage: cli_server_test.sh PATH/TO/perennial PATH/TO/perennial-server}
PY=/usr/bin/python3
MODEL=tests/fixtures/tiny_clip/openai_fp32.safetensors
if [ ! -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  echo "cli_server_test: dataset-fashion-mnist is not installed"; [ "${CI:-}" != true ]; exit $?
fi
data=$(mktemp -d)
log=$data/server.log
"$SERVER" --listen 127.0.0.1:0 --metrics-listen "" --data-dir "$data/d" --model "$MODEL" \
  --threads 1 --method sit --checkpoint-interval-s 0 --max-embed-images 16 >"$log" 2>&1 &
server_pid=$!
trap 'kill $server_pid 2>/dev/null; wait $server_pid 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 600); do grep -q '^serving' "$log" && break; sleep 0.1; done
port=$(sed -n 's/.*gRPC on [^ ,]*:\([0-9]*\).*/\1/p' "$log" | head -1)
[ -n "$port" ] || { echo "server did not start:"; cat "$log"; exit 1; }
export PERENNIAL_SERVER=127.0.0.1:$port

source "$(dirname "$0")/cli_test_lib.sh"

out=$("$CLI" ingest --dataset fashion-mnist --order si-blurry --limit 200 --eval-every 10 --batch 32 --json 2>/dev/null)
check ingest "o = lines[0]; assert (o['sent'], o['accepted'], o['duplicates'], o['rejected'], o['last_seq']) == (200, 200, 0, 0, 200), o"
out=$("$CLI" ingest --dataset fashion-mnist --order si-blurry --limit 200 --eval-every 10 --json 2>/dev/null)
check ingest-again-is-deduplicated "o = lines[0]; assert (o['accepted'], o['duplicates'], o['last_seq']) == (0, 200, 200), o"

cp tests/fixtures/images/*.png "$data/" && printf 'not an image' > "$data/corrupt.png"
expect_error ingest-files-rejects-corrupt "corrupt.png" "$CLI" ingest --label cat "$data"/*.png
expect_error ingest-needs-one-source "exactly one" "$CLI" ingest --dataset fashion-mnist --folder x

for _ in $(seq 300); do  # the learner catches up with the log
  out=$("$CLI" status --json)
  echo "$out" | "$PY" -c "import json,sys; o=json.load(sys.stdin); sys.exit(int(o.get('cursor','0')) < int(o['last_seq']))" && break
  sleep 0.2
done
check status "o = lines[0]; assert o['method'] == 'sit/lora' and o['cursor'] == o['last_seq'] and int(o['steps']) > 0 and 'prequential_acc' in o['metrics'], o"

out=$("$CLI" checkpoint --tag cli-test --json)
check checkpoint "c = lines[0]['checkpoint']; assert c['tags'] == ['cli-test'] and int(c['version']) > 0, c"
out=$("$CLI" checkpoints --json)
check checkpoints "o = lines[0]; assert any(c.get('tags') == ['cli-test'] for c in o['checkpoints']), o"
# Without --json, a view for people (clients/cli/admin_view.h); the last line of the table is
# the tagged checkpoint, the current version under it.
out=$("$CLI" status | "$PY" -c "import json,sys; print(json.dumps(sys.stdin.read()))")
check status-view "t = lines[0]; assert t.startswith('health       ') and 'model        version ' in t and 'sit/lora on cpu' in t and 'log          cursor 207 of 207 logged' in t, t"
out=$("$CLI" checkpoints | "$PY" -c "import json,sys; print(json.dumps(sys.stdin.read()))")
check checkpoints-view "t = lines[0].splitlines(); assert t[0].split()[:2] == ['version', 'parent'] and t[-2].endswith(' cli-test') and t[-1].startswith('current: '), t"
out=$("$CLI" pause --json); check pause "assert int(lines[0]['cursor']) == 207, lines[0]  # 200 dataset + 7 fixture images"
out=$("$CLI" status --json); check paused-status "assert lines[0]['learning_paused'] is True, lines[0]"
"$CLI" resume >/dev/null
out=$("$CLI" status --json); check resumed-status "assert not lines[0].get('learning_paused', False), lines[0]"
out=$("$CLI" labels-set clothes --labels "t-shirt,trouser,bag" --json)
check labels-set "assert lines[0]['label_count'] == 3, lines[0]"
out=$("$CLI" probes-set fmnist --dataset fashion-mnist --limit 40 --json)
check probes-set "b = lines[0]['base_accuracy']; assert set(b) == {'fmnist'} and 0 <= b['fmnist'] <= 1, lines[0]"
expect_error probes-set-bad-name "name" "$CLI" probes-set "bad name!" --dataset fashion-mnist --limit 5
out=$("$CLI" vocab-add apple pear --json)
check vocab-add "assert lines[0]['added'] == 2, lines[0]"
out=$("$CLI" query --labels "t-shirt,trouser,bag" --top-k 2 --json tests/fixtures/images/fashion_28x28.png)
check query "o = lines[0]; assert len(o['predictions']) == 2 and o['predictions'][0]['label'] in ('t-shirt','trouser','bag') and int(o['model_version']) > 0, o"
out=$("$CLI" query --label-set clothes --json tests/fixtures/images/fashion_28x28.png)
check query-label-set "o = lines[0]; assert len(o['predictions']) == 3, o"
out=$("$CLI" query-embed tests/fixtures/images/fashion_28x28.png --text "a bag." --text "a shoe.")
check query-embed "import math; o = lines[0]; v = o['image_embeddings'] + o['text_embeddings']; assert len(o['image_embeddings']) == 1 and len(o['text_embeddings']) == 2 and all(abs(math.hypot(*r) - 1) < 1e-4 for r in v) and v[1] != v[2] and int(o['model_version']) > 0, o"
expect_error query-embed-needs-input "image files and/or --text" "$CLI" query-embed
# More images than the server takes per call (--max-embed-images 16 above) and more texts than
# --texts-per-call: several calls, one list of vectors in the order given.
many=(); for _ in $(seq 70); do many+=(tests/fixtures/images/fashion_28x28.png); done
expect_error query-embed-over-the-server-limit "want 1..16" "$CLI" query-embed "${many[@]}"
out=$("$CLI" query-embed "${many[@]}" --images-per-call 16 --text "a bag." --text "a shoe." --text "a bag." --texts-per-call 1)
check query-embed-many "o = lines[0]; im, tx = o['image_embeddings'], o['text_embeddings']; assert len(im) == 70 and len(tx) == 3 and len(o['image_files']) == 70, o.keys(); assert 'model_versions' in o or (all(max(abs(a - b) for a, b in zip(r, im[0])) < 1e-6 for r in im) and tx[0] == tx[2] and tx[0] != tx[1]), o.get('model_versions')"
expect_error query-embed-missing-file "nosuch.png" "$CLI" query-embed "$data/nosuch.png"
expect_error query-corrupt "corrupt.png" "$CLI" query --labels a,b "$data/corrupt.png"
expect_error query-needs-labels "exactly one" "$CLI" query tests/fixtures/images/fashion_28x28.png
out=$("$CLI" loadgen --ingest-streams 2 --ingest-batch 16 --query-clients 1 --duration 2 --json 2>/dev/null)
check loadgen "o = lines[0]; assert o['acked_samples'] > 0 and o['queries'] > 0 and o['errors'] == {} and 0 < o['query_p50_ms'] <= o['query_p99_ms'] <= o['query_max_ms'], o"
# Paced clients: 2 x 20/s for 2 s is 80 queries evenly spaced, about as many Poisson arrivals.
out=$("$CLI" loadgen --ingest-streams 0 --query-clients 2 --query-rate 20 --duration 2 --json 2>/dev/null)
check loadgen-uniform "o = lines[0]; assert 60 <= o['queries'] <= 82 and o['query_arrivals'] == 'uniform', o"
out=$("$CLI" loadgen --ingest-streams 0 --query-clients 2 --query-rate 20 --query-arrivals poisson --duration 2 --json 2>/dev/null)
check loadgen-poisson "o = lines[0]; assert 45 <= o['queries'] <= 125 and o['query_arrivals'] == 'poisson', o"
# Paced ingest: 2 streams x 160 samples/s in calls of 16 for 2 s is at most 2 x 20 calls (an
# unpaced run acknowledges tens of thousands; the lower bound leaves room for a loaded machine).
out=$("$CLI" loadgen --ingest-streams 2 --ingest-rate 160 --ingest-batch 16 --query-clients 0 --duration 2 --json 2>/dev/null)
check loadgen-ingest-rate "o = lines[0]; assert 160 <= o['acked_samples'] <= 640, o"
expect_error loadgen-needs-work "nothing to do" "$CLI" loadgen --ingest-streams 0 --query-clients 0
# Failed calls back off (10 ms, doubling to 1 s): 2 clients for 1.5 s against no server make
# about 8 calls each; clients without a pause made about 100,000.
out=$("$CLI" loadgen --server 127.0.0.1:1 --ingest-streams 0 --query-clients 2 --duration 1.5 --json 2>/dev/null)
check loadgen-backoff "o = lines[0]; n = o['errors'].get('Classify 14', 0); assert o['queries'] == 0 and 2 <= n <= 40, o"
mkdir -p "$data/photos/jacket" "$data/photos/shoe"
cp tests/fixtures/images/photo_80x120.jpg tests/fixtures/images/photo_97x61.png "$data/photos/jacket/"
cp tests/fixtures/images/fashion_28x28.png tests/fixtures/images/gray_33x47.jpg "$data/photos/shoe/"
out=$("$CLI" loadgen --folder "$data/photos" --ingest-streams 1 --ingest-batch 4 --query-clients 1 --duration 1 --json 2>/dev/null)
check loadgen-folder "o = lines[0]; assert 'photos' in o['source'] and o['acked_samples'] > 0 and o['queries'] > 0 and o['errors'] == {}, o"
expect_error rollback-missing "no checkpoint with version 999" "$CLI" rollback 999
# Full-HD photos (~1.8 MB of noise each): ingest sends them in messages under 4 MiB, while a
# probe set, one message, is too big for the server's 16 MiB and says what to do.
mkdir -p "$data/big/noise"
"$PY" -c "
import numpy as np; from PIL import Image
rng = np.random.default_rng(5)
for i in range(10):
    Image.fromarray(rng.integers(0, 256, (1080, 1920, 3), dtype=np.uint8)).save('$data/big/noise/%d.jpg' % i, quality=90)"
out=$("$CLI" ingest --folder "$data/big" --json 2>/dev/null)
check ingest-full-hd "o = lines[0]; assert (o['accepted'], o['rejected']) == (10, 0), o"
expect_error probes-set-too-big "use fewer images (--limit) or smaller ones" \
  "$CLI" probes-set big --folder "$data/big"
expect_error unreachable "127.0.0.1:1: failed to connect" "$CLI" status --server 127.0.0.1:1 --timeout 2
expect_error unreachable-hint "is perennial-server running there?" \
  "$CLI" pause --server 127.0.0.1:1 --timeout 2

kill -TERM $server_pid; wait $server_pid; rc=$?
if [ $rc -eq 0 ]; then passes=$((passes + 1)); else echo "FAILED: SIGTERM exit $rc"; failures=$((failures + 1)); fi
echo "cli_server_test: $passes passed, $failures failed"
[ $failures -eq 0 ]
