"""Turns the PROFILE_JSON line of an instrumented train_bench run into the BENCHMARKS.md tables.

    python3 benches/profile/render.py STDERR_FILE

GFLOP/s columns use densenet-bc-100's conv FLOPs at the run's batch (scaled from batch 64).
"""

import json
import sys

d = None
for line in open(sys.argv[1]):
    if line.startswith("PROFILE_JSON "):
        d = json.loads(line[len("PROFILE_JSON ") :])
if d is None:
    raise SystemExit("no PROFILE_JSON line")
scale = d.get("batch", 64) / 64
# GFLOP per densenet-bc-100 step at batch 64 (2*Cout*Cin*k^2*Ho*Wo*N; see BENCHMARKS.md).
B1, TR, K3, STEM = 17.968, 4.532, 14.269, 0.085
FL = {
    ("forward", "conv1x1.forward"): B1 + TR,
    ("backward", "conv1x1.forward"): B1,
    ("backward", "conv1x1.backward_weight"): B1 + TR,
    ("backward", "conv1x1.backward_input"): B1 + TR,
    ("forward", "conv3x3.forward"): K3 + STEM,
    ("backward", "conv3x3.backward_weight"): K3 + STEM,
    ("backward", "conv3x3.backward_input"): K3,
}
CAT = {
    ("forward", "conv3x3.forward"): "3x3 conv forward (GEMM)",
    ("backward", "conv3x3.backward_input"): "3x3 conv input grad (GEMM of the flipped-kernel conv)",
    ("backward", "conv3x3.backward_weight"): "3x3 conv weight grad (GEMM)",
    ("forward", "conv1x1.forward"): "1x1 conv forward (bottlenecks + transitions)",
    ("backward", "conv1x1.forward"): "1x1 conv forward recomputed in backward (efficient mode)",
    ("backward", "conv1x1.backward_input"): "1x1 conv input grad",
    ("backward", "conv1x1.backward_weight"): "1x1 conv weight grad",
    ("forward", "conv.im2col"): "im2col (forward)",
    ("backward", "conv.im2col"): "im2col (backward: weight grad + flipped conv)",
    ("backward", "conv.col2im"): "col2im",
    ("forward", "bn.stats"): "BN batch statistics",
    ("forward", "bn.forward"): "BN-ReLU forward",
    ("backward", "bn.forward"): "BN-ReLU forward recomputed in backward",
    ("backward", "bn.backward"): "BN-ReLU backward",
}
steps = d["steps"]
total = d["total_s"] / steps
rows, covered, other, other_parts = [], 0.0, 0.0, []
for r in d["rows"]:
    k = (r["phase"], r["op"])
    if k not in CAT:  # a sub-scope of the repo's own profiler (e.g. bn.backward.sums): fold into its op
        k = next((c for c in CAT if c[0] == k[0] and k[1].startswith(c[1] + ".")), k)
    s = r["s"] / steps
    covered += s
    if k in CAT:
        prev = next((i for i, r in enumerate(rows) if r[0] == CAT[k]), None)
        if prev is None:
            rows.append((CAT[k], s, FL.get(k)))
        else:
            rows[prev] = (CAT[k], rows[prev][1] + s, FL.get(k))
    else:
        other += s
        other_parts.append((f"{r['phase']} {r['op']}", s))
other_parts.append(("unscoped (copies, allocation, glue)", total - covered))
other += total - covered
rows.sort(key=lambda x: -x[1])
print("| category | ms / step | share | GFLOP/s |\n|---|---:|---:|---:|")
for name, s, fl in rows:
    rate = f"{fl * scale / s:.1f}" if fl else ""
    print(f"| {name} | {s * 1e3:.0f} | {100 * s / total:.1f}% | {rate} |")
print(f"| other (pools, head, loss, SGD, copies, allocation) | {other * 1e3:.0f} | {100 * other / total:.1f}% | |")
print(f"| **total** | **{total * 1e3:.0f}** | 100% | {3 * d['fwd_conv_gflop'] / total:.1f} (model FLOPs) |")
groups = {
    "3x3 conv GEMMs (forward + both gradients)": lambda n: n.startswith("3x3"),
    "1x1 conv GEMMs (forward + recompute + both gradients)": lambda n: n.startswith("1x1"),
    "im2col / col2im": lambda n: n.startswith(("im2col", "col2im")),
    "BN (statistics, forward, recompute, backward)": lambda n: n.startswith("BN"),
}
print("\n| group | ms / step | share |\n|---|---:|---:|")
for g, pred in groups.items():
    v = sum(s for n, s, _ in rows if pred(n))
    print(f"| {g} | {v * 1e3:.0f} | {100 * v / total:.1f}% |")
print(f"| other | {other * 1e3:.0f} | {100 * other / total:.1f}% |")
other_parts.sort(key=lambda x: -x[1])
print("\nother = " + ", ".join(f"{n} {v * 1e3:.0f} ms" for n, v in other_parts if v * 1e3 >= 0.5))
