#!/usr/bin/env python3
"""Where the time of a profiled benchmark step went, from a Chrome trace written by
`perennial-bench --trace PATH` (LibTorch's Kineto profiler) or by torch.profiler.

GPU traces: kernel time by kind (matrix products, attention, normalisation, elementwise, copies,
reductions, optimizer), the GPU's idle share of the traced wall time, and the top kernels with
the ATen op and the autograd node that launched each. CPU traces (also LibTorch 1.x's legacy
profiler, whose trace is a bare list): the top ops by self time. Both: time by step phase, where
the trace has perennial's phase scopes (learner/base/trace_phase.h: the learner's Observe() calls
mark image forward, text forward, teacher, backward, optimizer, ...): CPU time inside each phase,
and for GPU traces the kernel time launched from each.

  bench/trace_summary.py TRACE.json[.gz] [--top N] [--steps S]

--steps is how many steps the trace holds (perennial-bench traces 3), to print ms per step.
"""
import argparse
import bisect
import collections
import gzip
import json
import re

KINDS = [  # first match wins
    ("matmul", r"gemm|cutlass|xmma|nvjet|cublas|wgmma|splitk"),
    ("attention", r"flash|fmha|attention|sdpa"),
    ("norm", r"layer_norm|layernorm|LayerNorm|norm_kernel|RowwiseMoments|GammaBeta"),
    ("optimizer", r"adam|multi_tensor|foreach"),
    ("copy", r"copy|Memcpy|memcpy|cat_|CatArray|transpose|permute|stack"),
    ("reduce", r"reduce|Reduce|softmax|Softmax|sum_|norm"),
    ("elementwise", r"elementwise|vectorized|unrolled|silu|gelu|Silu|Gelu|mul|add|fill"),
]


PHASE = "perennial::step::"


def kind_of(name):
    for kind, pattern in KINDS:
        if re.search(pattern, name):
            return kind
    return "other"


def short(name, width=70):
    name = re.sub(r"<.*", "<...>", name) if len(name) > width else name
    return name[:width]


class Enclosing:
    """The CPU ops of one thread, to find those enclosing a timestamp (the op that launched)."""

    def __init__(self, ops):
        self.ops = sorted(ops, key=lambda e: e["ts"])
        self.starts = [e["ts"] for e in self.ops]

    def at(self, ts):
        out = []
        i = bisect.bisect_right(self.starts, ts)
        for e in reversed(self.ops[max(0, i - 400):i]):
            if e["ts"] + e.get("dur", 0) >= ts:
                out.append(e["name"])
        return out  # innermost first


def self_times(ops):
    """Each op's time less that of the ops it encloses on its thread: where the time really went."""
    own = collections.Counter()
    inclusive = collections.Counter()
    by_thread = collections.defaultdict(list)
    for e in ops:
        by_thread[e.get("tid")].append(e)
    for thread_ops in by_thread.values():
        thread_ops.sort(key=lambda e: (e["ts"], -e.get("dur", 0)))
        stack = []  # (end, name)
        for e in thread_ops:
            end = e["ts"] + e.get("dur", 0)
            while stack and stack[-1][0] <= e["ts"]:
                stack.pop()
            if stack:
                own[stack[-1][1]] -= e.get("dur", 0)
            own[e["name"]] += e.get("dur", 0)
            inclusive[e["name"]] += e.get("dur", 0)
            stack.append((end, e["name"]))
    return own, inclusive


def print_phases(phases, steps, kernel_us=None):
    """CPU time inside each phase scope, and the GPU kernel time launched from each if given."""
    wall = collections.Counter()
    for e in phases:
        wall[e["name"][len(PHASE):]] += e.get("dur", 0)
    if not wall:
        return
    if kernel_us is None:
        total = sum(wall.values())
        print("by step phase (ms per step, share; a helper thread's phases overlap the others):")
        for name, us in wall.most_common():
            print(f"  {us / 1e3 / steps:8.2f} {100 * us / total:5.1f}%  {name}")
        return
    total = sum(kernel_us.values())
    print("GPU kernel time by the step phase that launched it (ms per step, share; CPU ms in the phase):")
    for name, us in kernel_us.most_common():
        print(f"  {us / 1e3 / steps:8.2f} {100 * us / total:5.1f}%  {name:24s} {wall[name] / 1e3 / steps:8.2f}")


def print_cpu_ops(ops, steps, top):
    own, inclusive = self_times(ops)
    total = sum(v for v in own.values() if v > 0)
    print(f"no GPU kernels in the trace: CPU ops, {total / 1e3 / steps:.2f} ms of op time per step "
          f"({len(ops) / steps:.0f} ops per step)")
    print(f"top {top} by self time (ms per step, share, inclusive ms per step, op):")
    for name, us in own.most_common(top):
        print(f"  {us / 1e3 / steps:8.2f} {100 * us / total:5.1f}%  {inclusive[name] / 1e3 / steps:8.2f}  {name}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("trace")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    with (gzip.open if args.trace.endswith(".gz") else open)(args.trace, "rt") as f:
        trace = json.load(f)
    # Kineto writes {"traceEvents": [...]}; LibTorch 1.x's legacy profiler a bare list of ops.
    legacy = isinstance(trace, list)
    events = trace if legacy else trace["traceEvents"]
    steps = max(args.steps, 1)
    kernels = [e for e in events if e.get("cat") in ("kernel", "gpu_memcpy", "gpu_memset")]
    # Kineto files record_function scopes as user annotations; the legacy profiler as ops.
    ops = [e for e in events if e.get("ph") == "X" and (legacy or e.get("cat") in ("cpu_op", "user_annotation"))]
    phases = [e for e in ops if e["name"].startswith(PHASE)]
    ops = [e for e in ops if not e["name"].startswith(PHASE)]
    if not kernels:
        print_cpu_ops(ops, steps, args.top)
        print_phases(phases, steps)
        return
    launches = {}
    by_thread = collections.defaultdict(list)
    for e in ops:
        by_thread[e["tid"]].append(e)
    enclosing = {tid: Enclosing(v) for tid, v in by_thread.items()}
    for e in events:
        # cuBLAS launches through the driver API (cuLaunchKernelEx), the rest through the runtime.
        if e.get("cat") in ("cuda_runtime", "cuda_driver") and "correlation" in e.get("args", {}):
            launches[e["args"]["correlation"]] = e
    # By time, not by the launching thread's stack: LibTorch's CUDA backward launches from
    # autograd's device threads, inside the main thread's backward phase but not on its stack.
    spans = sorted((e["ts"], e["ts"] + e.get("dur", 0), e["name"][len(PHASE):]) for e in phases)

    starts = [span[0] for span in spans]

    def phase_at(ts):
        i = bisect.bisect_right(starts, ts)
        for _, end, name in reversed(spans[max(0, i - 8):i]):
            if ts <= end:
                return name
        return "(no phase)"

    busy = sum(k["dur"] for k in kernels)
    wall = max(k["ts"] + k["dur"] for k in kernels) - min(k["ts"] for k in kernels)
    by_kind = collections.Counter()
    by_kernel = collections.Counter()
    by_phase = collections.Counter()
    calls = collections.Counter()
    for k in kernels:
        kind = kind_of(k["name"])
        by_kind[kind] += k["dur"]
        launch = launches.get(k.get("args", {}).get("correlation"))
        stack = enclosing[launch["tid"]].at(launch["ts"]) if launch and launch["tid"] in enclosing else []
        aten = next((n for n in stack if n.startswith("aten::")), "?")
        node = next((n.split(": ")[-1] for n in stack if n.startswith("autograd::engine")), "forward")
        by_phase[phase_at(launch["ts"]) if launch else "(no phase)"] += k["dur"]
        key = (kind, short(k["name"]), aten, node)
        by_kernel[key] += k["dur"]
        calls[key] += 1
    print(f"GPU busy {busy / 1e3 / steps:.2f} ms per step of {wall / 1e3 / steps:.2f} ms traced "
          f"({100 * (1 - busy / wall):.1f}% idle), {len(kernels) / steps:.0f} kernels per step")
    print("by kind (ms per step, share of busy):")
    for kind, us in by_kind.most_common():
        print(f"  {kind:12s} {us / 1e3 / steps:8.2f}  {100 * us / busy:5.1f}%")
    print(f"top {args.top} (ms per step, calls per step, kind, kernel, ATen op, autograd node):")
    for key, us in by_kernel.most_common(args.top):
        kind, name, aten, node = key
        print(f"  {us / 1e3 / steps:8.2f} {calls[key] / steps:5.0f}  {kind:11s} {name}  | {aten} | {node}")
    if phases:
        print_phases(phases, steps, by_phase)


if __name__ == "__main__":
    main()
