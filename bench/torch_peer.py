#!/usr/bin/env python3
"""The PyTorch peer of `perennial-bench --suite clip` on a GPU: one SIT step of CLIP with LoRA.

The same work as clip_bench.cc's SIT figure, written as plain PyTorch: OpenAI's CLIP architecture
with random weights, frozen weights in --dtype, LoRA (r=8, alpha=16) on q/k/v/out and MLP fc/proj
of both towers with fp32 parameters, AdamW, cross-entropy over 5 present classes, text run up to
its longest EOT. It prints one JSON line like perennial-bench (same FLOP count, clip_flops.h), so
the two can be compared on the same card; --compile adds torch.compile as a second peer, and
--profile prints where the GPU time of one eager step goes (top kernels).

    python3 bench/torch_peer.py --arch ViT-B/16 --batch 256 --dtype bf16 --peak-tflops 989
"""
import argparse
import json
import time

import torch
import torch.nn.functional as F

ARCHS = {"ViT-B/32": (32, 224, 768, 12, 512, 512), "ViT-B/16": (16, 224, 768, 12, 512, 512)}
LAYERS, TEXT_LAYERS, CONTEXT, VOCAB, RANK, SCALE = 12, 12, 77, 49408, 8, 16.0 / 8


def block_weights(width, dtype, dev):
    def w(*shape):
        return (torch.randn(*shape, device=dev) * 0.02).to(dtype)

    def lora(out_f, in_f):
        return [torch.randn(RANK, in_f, device=dev).mul_(0.01).requires_grad_(),
                torch.zeros(out_f, RANK, device=dev, requires_grad=True)]
    return {"ln1": (w(width) + 1, w(width)), "ln2": (w(width) + 1, w(width)),
            "qkv": (w(3 * width, width), w(3 * width), lora(3 * width, width)),
            "out": (w(width, width), w(width), lora(width, width)),
            "fc": (w(4 * width, width), w(4 * width), lora(4 * width, width)),
            "proj": (w(width, 4 * width), w(width), lora(width, 4 * width))}


def adapted(x, m):
    weight, bias, (a, b) = m
    y = F.linear(x, weight, bias)
    h = F.linear(x, a.to(x.dtype))
    return y + SCALE * F.linear(h, b.to(x.dtype))


def block(x, p, heads, causal):
    n, l, w = x.shape
    qkv = adapted(F.layer_norm(x, (w,), *p["ln1"]), p["qkv"])
    q, k, v = qkv.view(n, l, 3, heads, w // heads).permute(2, 0, 3, 1, 4).unbind(0)
    attn = F.scaled_dot_product_attention(q, k, v, is_causal=causal).transpose(1, 2).reshape(n, l, w)
    x = x + adapted(attn, p["out"])
    m = adapted(F.layer_norm(x, (w,), *p["ln2"]), p["fc"])
    return x + adapted(m * torch.sigmoid(1.702 * m), p["proj"])


def build(arch, dtype, dev):
    patch, res, vw, _, tw, embed = ARCHS[arch]
    grid = res // patch
    w = lambda *s: (torch.randn(*s, device=dev) * 0.02).to(dtype)  # noqa: E731
    return {"patch": patch, "grid": grid, "vw": vw, "tw": tw,
            "conv": w(vw, 3 * patch * patch), "cls": w(vw), "vpos": w(grid * grid + 1, vw),
            "ln_pre": (w(vw) + 1, w(vw)), "ln_post": (w(vw) + 1, w(vw)), "vproj": w(vw, embed),
            "vblocks": [block_weights(vw, dtype, dev) for _ in range(LAYERS)],
            "tok": w(VOCAB, tw), "tpos": w(CONTEXT, tw), "ln_final": (w(tw) + 1, w(tw)),
            "tproj": w(tw, embed), "tblocks": [block_weights(tw, dtype, dev) for _ in range(TEXT_LAYERS)]}


def encode_image(m, pixels):
    n, p, g, w = pixels.shape[0], m["patch"], m["grid"], m["vw"]
    x = pixels.reshape(n, 3, g, p, g, p).permute(0, 2, 4, 1, 3, 5).reshape(n, g * g, 3 * p * p)
    x = torch.cat([m["cls"].view(1, 1, w).expand(n, 1, w), x @ m["conv"].t()], 1) + m["vpos"]
    x = F.layer_norm(x, (w,), *m["ln_pre"])
    for p_ in m["vblocks"]:
        x = block(x, p_, w // 64, False)
    return F.layer_norm(x[:, 0], (w,), *m["ln_post"]) @ m["vproj"]


def encode_text(m, ids, eot):
    x = m["tok"][ids] + m["tpos"][: ids.shape[1]]
    for p_ in m["tblocks"]:
        x = block(x, p_, m["tw"] // 64, True)
    x = F.layer_norm(x, (m["tw"],), *m["ln_final"])
    return x[torch.arange(x.shape[0], device=x.device), eot] @ m["tproj"]


def sit_flops(arch, images, texts, tokens):
    """clip_flops.cc's SitStepFlops with LoRA rank 8 (see clip_flops.h for what is counted)."""
    patch, res, vw, _, tw, embed = ARCHS[arch]
    seq = (res // patch) ** 2 + 1

    def tower(seqs, l, w, layers):
        rows = seqs * l
        return layers * rows * 12 * w * w, layers * 2 * seqs * l * l * w, layers * rows * RANK * 16 * w
    il, ia, ilo = tower(images, seq, vw, LAYERS)
    tl, ta, tlo = tower(texts, tokens, tw, TEXT_LAYERS)
    fwd = il + ia + ilo + tl + ta + tlo + images * (seq - 1) * 3 * patch * patch * vw \
        + images * vw * embed + texts * tw * embed
    return 2 * fwd + 2 * (il + 2 * ia + 2 * ilo + tl + 2 * ta + 2 * tlo)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--arch", default="ViT-B/16", choices=sorted(ARCHS))
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--dtype", default="bf16", choices=["bf16", "fp16", "fp32"])
    ap.add_argument("--iterations", type=int, default=10)
    ap.add_argument("--peak-tflops", type=float, default=0)
    ap.add_argument("--compile", action="store_true", help="time torch.compile'd step instead")
    ap.add_argument("--profile", action="store_true", help="print the top GPU kernels of a step")
    args = ap.parse_args()
    dev = "cuda"
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[args.dtype]
    torch.manual_seed(0)
    m = build(args.arch, dtype, dev)
    params = [t for blocks in (m["vblocks"], m["tblocks"]) for p in blocks
              for k in ("qkv", "out", "fc", "proj") for t in p[k][2]]
    opt = torch.optim.AdamW(params, lr=1e-4)
    res = ARCHS[args.arch][1]
    pixels = torch.randn(args.batch, 3, res, res, device=dev).to(dtype)
    ids = torch.randint(1, VOCAB - 2, (5, 12), device=dev)
    ids[:, -1] = VOCAB - 1  # EOT, the largest id, at position 11
    eot = ids.argmax(-1)
    labels = (torch.arange(args.batch, device=dev) % 5)
    logit_scale = torch.tensor(100.0, device=dev)

    def step():
        opt.zero_grad(set_to_none=True)
        image = F.normalize(encode_image(m, pixels).float(), dim=-1)
        text = F.normalize(encode_text(m, ids, eot).float(), dim=-1)
        F.cross_entropy(logit_scale * image @ text.t(), labels).backward()
        opt.step()

    fwd_bwd = torch.compile(step) if args.compile else step
    for _ in range(3):
        fwd_bwd()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(args.iterations):
        fwd_bwd()
    torch.cuda.synchronize()
    ms = (time.perf_counter() - start) * 1e3 / args.iterations
    flops = sit_flops(args.arch, args.batch, 5, 12)
    tflops = flops / (ms * 1e-3) / 1e12
    record = {"name": "torch_sit_step_" + args.arch.replace("-", "").replace("/", "").lower()
              + ("_compiled" if args.compile else "_eager"),
              "images_per_s": args.batch * 1e3 / ms, "ms_per_step": ms,
              "gflop_per_image": flops / args.batch / 1e9, "tflop_per_s": tflops,
              "batch": args.batch, "dtype": args.dtype, "torch": torch.__version__,
              "gpu": torch.cuda.get_device_name(), "max_allocated_gib":
              torch.cuda.max_memory_allocated() / 2**30}
    if args.peak_tflops > 0:
        record.update(peak_tflop_per_s=args.peak_tflops, mfu=tflops / args.peak_tflops)
    print(json.dumps(record), flush=True)
    if args.profile:
        from torch.profiler import ProfilerActivity, profile
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            step()
            torch.cuda.synchronize()
        averages = prof.key_averages()
        try:
            table = averages.table(sort_by="self_device_time_total", row_limit=25)
        except (AttributeError, KeyError, ValueError):
            table = averages.table(sort_by="self_cuda_time_total", row_limit=25)
        print(table, flush=True)


if __name__ == "__main__":
    main()
