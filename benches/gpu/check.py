#!/usr/bin/env python3
"""The GPU check of the CUDA backend (issue #12), run by check.sh. Each row is printed (and flushed)
as it finishes, so a run cut off early still says what held; one table and the verdicts come last:

  * preflight: the driver (CUDA >= 13.0, driver >= 580), cuBLAS 13 as cudarc will load it, NVML,
    NCCL (libs.py), before anything runs; a missing required library stops the check there;
  * parity vs PyTorch on the same device (f32, TF32 off on both sides): eval logits, train loss,
    every gradient, the parameters after one SGD step (lr 0.1, momentum 0.9, Nesterov) and the BN
    running statistics; tolerance 1e-4 (relative, per tensor);
  * densenet-bc-100, batch 64, 32x32: training img/s, ours vs PyTorch + cuDNN fp32, both memory
    modes, and peak memory;
  * NCCL smoke (world of 1): our addon's cudaNcclSmoke('cuda'), exact; its own verdict line;
  * compute-sanitizer (memcheck) over one training step of a small net, when it is installed;
  * densenet264, 224x224, batch 64: one training step, and the largest batch that trains (doubling,
    then bisecting, each try in a fresh process) while the time budget lasts.

This parent process never touches CUDA: PyTorch runs in child processes (reference.py), one task
each, like our Node side (ours.mjs), and memory is polled through NVML (nvml.py): device-wide used
memory every 20 ms minus the idle baseline, the same measure for both sides (each includes its own
CUDA context). So nothing holds a context while the other side runs (exclusive-process mode works).

  check.py --list [--dry-run]   the rows the run would print (no torch, no GPU)
  check.py --dry-run            prints every row the GPU run would print, then runs the same logic
                                on the CPU (our CPU addon, torch CPU, small shapes; --dry-run
                                memory is the child's max RSS); part of `npm test`.

Needs: python3 (+ torch for the children); node + our addon (DENSENET_NATIVE_PATH). No Rust, no npm.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import libs  # noqa: E402
from nvml import Nvml  # noqa: E402

TOL = 1e-4

BC100 = {"growthRate": 12, "blockConfig": [16, 16, 16], "numInitFeatures": 24, "bottleneck": True, "bnSize": 4, "compression": 0.5, "dropRate": 0, "numClasses": 10, "inChannels": 3, "smallInputs": True}
D264 = {"growthRate": 32, "blockConfig": [6, 12, 64, 48], "numInitFeatures": 64, "bottleneck": True, "bnSize": 4, "compression": 0.5, "dropRate": 0, "numClasses": 1000, "inChannels": 3, "smallInputs": False}
SMALL = dict(BC100, growthRate=4, blockConfig=[2, 2, 2], numInitFeatures=8)


def cfg(**kw):
    return dict(BC100, **kw)


# ---- what runs: (kind, name, arguments), the same list for the rows and for --list ----


def plan(dry):
    if dry:
        return [
            ("parity", "cifar-bc k4 [2,2,2] b4 8px", dict(c=SMALL, batch=4, size=8)),
            ("parity", "imagenet-stem k4 [2,2] b3 19px", dict(c=dict(D264, growthRate=4, blockConfig=[2, 2], numInitFeatures=8, numClasses=7), batch=3, size=19)),
            ("bench", "bc k12 [2,2,2]", dict(c=cfg(blockConfig=[2, 2, 2]), batch=4, size=16, warmup=1, steps=2)),
            ("nccl", "", {}),
            ("sanitizer", "bc k4 [2,2,2] b4 16px", dict(c=SMALL, batch=4, size=16)),
            ("big", "imagenet-stem k8 [2,2]", dict(c=dict(D264, growthRate=8, blockConfig=[2, 2], numInitFeatures=16), batch=2, size=32, max_batch=8)),
        ]
    return [
        ("parity", "densenet-bc k12 [6,6,6] b16 32px", dict(c=cfg(blockConfig=[6, 6, 6]), batch=16, size=32)),
        ("parity", "imagenet-stem k16 [3,3,3] b8 64px", dict(c=dict(D264, growthRate=16, blockConfig=[3, 3, 3], numInitFeatures=32, numClasses=100), batch=8, size=64)),
        ("bench", "densenet-bc-100", dict(c=BC100, batch=64, size=32, warmup=3, steps=15)),
        ("nccl", "", {}),
        ("sanitizer", "bc k4 [2,2,2] b4 16px", dict(c=SMALL, batch=4, size=16)),
        ("big", "densenet264", dict(c=D264, batch=64, size=224, max_batch=4096)),
    ]


PARITY_WHATS = ["eval logits", "train loss", "every gradient", "params after 1 SGD step", "BN running stats"]
BENCH_MODES = [("efficient", True), ("naive", False)]
NCCL_TITLE = "NCCL smoke (world of 1)"


def titles(kind, name, a, gpu):
    mem = "GPU" if gpu else "RSS"
    if kind == "parity":
        return [f"parity {name}: {w}" for w in PARITY_WHATS]
    if kind == "bench":
        return [t for o, e in BENCH_MODES for t in (f"{name} b{a['batch']} {a['size']}px train img/s ({o} / memory_efficient={e})", f"{name} b{a['batch']} peak {mem} memory ({o} / memory_efficient={e})")]
    if kind == "nccl":
        return [NCCL_TITLE]
    if kind == "sanitizer":
        return [f"compute-sanitizer memcheck: one training step, {name}"]
    return [f"{name} {a['size']}px b{a['batch']}: one training step", f"{name} {a['size']}px: largest batch that trains (ours, efficient)"]


def all_titles(gpu):
    return ["preflight"] * gpu + ["device"] + [t for k, n, a in plan(not gpu) for t in titles(k, n, a, gpu)]


# ---- running the two sides and measuring memory ----


class Peak:
    """Peak memory of one child process, polled every 20 ms: on the GPU the device-wide used
    memory (NVML) minus the idle baseline; on the CPU (dry run) the child's VmHWM (max RSS)."""

    def __init__(self, nvml, pid):
        self.nvml, self.pid = nvml, pid
        self.base = self.used() if nvml else 0
        self.peak = 0
        self.stop = threading.Event()
        self.t = threading.Thread(target=self.poll, daemon=True)
        self.t.start()

    def used(self):
        if self.nvml:
            return self.nvml.used_bytes()
        try:
            with open(f"/proc/{self.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            pass
        return 0

    def poll(self):
        while not self.stop.is_set():
            self.peak = max(self.peak, self.used() - self.base)
            time.sleep(0.02)

    def done(self):
        self.stop.set()
        self.t.join()
        return self.peak


class Child:
    """One finished child: its last JSON line (or None), peak memory, stdout, stderr's tail."""

    def __init__(self, cmd, nvml, timeout):
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        pk = Peak(nvml, p.pid)
        try:
            self.out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            self.out, err = p.communicate()
            err += f"\n(timed out after {timeout:.0f}s)"
        self.peak = pk.done()
        self.code = p.returncode
        self.err = err[-2000:]
        self.res = None
        for line in reversed(self.out.strip().splitlines()):
            try:
                self.res = json.loads(line)
                break
            except ValueError:
                continue

    def ok(self):
        return bool(self.res and self.res.get("ok"))

    def why(self):
        return f"{(self.res or {}).get('code', '')} {(self.res or {}).get('message', self.err[-300:])}".strip()


class Ctx:
    def __init__(self, a):
        self.dry = a.dry_run
        self.gpu = not a.dry_run
        self.device = "cuda" if self.gpu else "cpu"
        self.node = a.node
        self.python = a.python
        self.t0 = time.time()
        self.budget = a.budget
        self.rows = []
        self.nvml = None

    def left(self):
        return self.budget - (time.time() - self.t0)

    def cap(self, timeout):
        """A child's time limit: its own, but no longer than the budget leaves (at least 15 s)."""
        return max(15.0, min(timeout, self.left()))

    def ours(self, task, timeout=240, wrap=()):
        task = dict(task, device=self.device)
        return Child([*wrap, self.node, os.path.join(HERE, "ours.mjs"), json.dumps(task)], self.nvml, self.cap(timeout))

    def torch_child(self, task, timeout=240):
        return Child([self.python, os.path.join(HERE, "reference.py"), json.dumps(dict(task, device=self.device))], self.nvml, self.cap(timeout))

    def row(self, what, ours="", torch_="", status=""):
        self.rows.append((what, ours, torch_, status))
        print(f"  {what}: ours {ours} | pytorch {torch_} | {status}", flush=True)


def fmt_bytes(b):
    return f"{b / 2**30:.2f} GiB" if b >= 2**30 else f"{b / 2**20:.0f} MiB"


# ---- the checks ----


def parity(ctx, name, c, batch, size):
    tl = titles("parity", name, {}, ctx.gpu)
    shape = dict(config=c, batch=batch, size=size)
    with tempfile.TemporaryDirectory() as d:
        prep = ctx.torch_child(dict(shape, task="inputs", dir=d))
        if not prep.ok():
            for t in tl:
                ctx.row(t, "", "failed", f"FAIL: the reference could not write the inputs: {prep.why()}")
            return False
        ours = ctx.ours(dict(shape, task="parity", dir=d))
        if not ours.res or "evalLogits" not in ours.res:
            for t in tl:
                ctx.row(t, "failed", "", f"FAIL: {ours.res} {ours.err[-500:]}")
            return False
        with open(os.path.join(d, "ours.json"), "w") as fh:
            json.dump(ours.res, fh)
        ref = ctx.torch_child(dict(shape, task="parity", dir=d))
    if not ref.ok():
        for t in tl:
            ctx.row(t, "", "failed", f"FAIL: the reference failed: {ref.why()}")
        return False
    ok = True
    for t, (what, e, where) in zip(tl, ref.res["rows"]):
        good = e <= TOL
        ok &= good
        ctx.row(t, f"max rel err {e:.1e}" + (f" ({where})" if where else ""), "reference", ("PASS" if good else "FAIL") + f" (<= {TOL:g})")
    return ok


def bench(ctx, name, c, batch, size, warmup, steps):
    tl = titles("bench", name, dict(batch=batch, size=size), ctx.gpu)
    for i, (ours_mode, torch_eff) in enumerate(BENCH_MODES):
        task = {"config": c, "batch": batch, "size": size, "warmup": warmup, "steps": steps}
        o = ctx.ours(dict(task, task="bench", mode=ours_mode))
        t = ctx.torch_child(dict(task, task="bench", memory_efficient=torch_eff))
        ratio = f"{o.res['imgPerSec'] / t.res['imgPerSec']:.2f}x" if o.ok() and t.ok() else ""
        ctx.row(tl[2 * i], f"{o.res['imgPerSec']:.0f}" if o.ok() else f"failed: {o.why()}", f"{t.res['imgPerSec']:.0f}" if t.ok() else f"failed: {t.why()}", f"ours/pytorch {ratio}")
        ctx.row(tl[2 * i + 1], fmt_bytes(o.peak), fmt_bytes(t.peak), f"ours/pytorch {o.peak / max(t.peak, 1):.2f}")


def big(ctx, name, c, batch, size, max_batch):
    tl = titles("big", name, dict(batch=batch, size=size), ctx.gpu)
    task = {"config": c, "size": size, "mode": "efficient"}
    o = ctx.ours(dict(task, task="step", batch=batch), timeout=120)
    t = ctx.torch_child(dict(task, task="step", batch=batch, memory_efficient=True), timeout=120)
    ctx.row(tl[0], f"{o.res['seconds']:.2f} s, peak {fmt_bytes(o.peak)}" if o.ok() else f"failed: {o.why()}",
            f"{t.res['seconds']:.2f} s, peak {fmt_bytes(t.peak)}" if t.ok() else f"failed: {t.why()}", "memory_efficient=True on the PyTorch side")
    # The largest batch of ours that fits: double, then bisect, while the time budget lasts.
    lo, hi, b = (batch if o.ok() else 0), None, batch * 2
    tries = []
    while b <= max_batch and ctx.left() > 45:
        # A try that runs past the budget is killed and counts as not fitting in time.
        r = ctx.ours(dict(task, task="step", batch=b), timeout=ctx.left() - 15)
        tries.append(f"{b}:{'ok' if r.ok() else (r.res or {}).get('code', 'timeout' if 'timed out' in r.err else 'crash')}")
        if r.ok():
            lo = b
        else:
            hi = b
        if hi is None:
            b *= 2
        elif hi - lo > max(batch // 4, 1) and len(tries) < 8:
            b = (lo + hi) // 2
        else:
            break
    bound = f"< {hi}" if hi else f"(not reached up to {max_batch}{'; the budget ran out' if b <= max_batch else ''})"
    ctx.row(tl[1], f"{lo} {bound}", "", "tries " + " ".join(tries))


def nccl(ctx):
    r = ctx.ours({"task": "nccl", "ncclDevice": "cuda"}, timeout=60).res
    if ctx.dry:
        would = "would run cudaNcclSmoke('cuda'): NCCL in-place all-reduce (f32, f64, host) on 1 rank"
        if r and r.get("code") == "ERR_DEVICE":
            ctx.row(NCCL_TITLE, would, "", "PASS (dry run: the CPU build answers ERR_DEVICE, as it must)")
            return True
        ctx.row(NCCL_TITLE, would, "", f"FAIL: the CPU build must answer ERR_DEVICE, got {r}")
        return False
    if r and r.get("ok") is True and r.get("ranks") == 1 and r.get("sum") == r.get("expected"):
        ctx.row(NCCL_TITLE, f"{r['library']} on {r['device']}: 1 rank, sum {r['sum']:g} exact", "", "PASS")
        return True
    ctx.row(NCCL_TITLE, "failed", "", f"FAIL: {r}")
    return False


def find_sanitizer():
    """compute-sanitizer: on PATH, in a CUDA toolkit, or from the nvidia-cuda-sanitizer-api wheel."""
    found = [shutil.which("compute-sanitizer")]
    for h in (os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), "/usr/local/cuda"):
        found.append(os.path.join(h, "bin", "compute-sanitizer") if h else None)
    for s in libs.site_dirs(os.environ):
        found += sorted(glob.glob(os.path.join(s, "nvidia", "**", "compute-sanitizer"), recursive=True))
    return next((f for f in found if f and os.path.isfile(f) and os.access(f, os.X_OK)), None)


def sanitizer(ctx, name, c, batch, size):
    """None when it did not run (not installed, or the dry run), else whether memcheck was clean."""
    title = titles("sanitizer", name, {}, ctx.gpu)[0]
    exe = find_sanitizer()
    if ctx.dry or not exe:
        how = f"would run {exe or 'compute-sanitizer'} --tool memcheck over one training step"
        ctx.row(title, how, "", "SKIP: dry run" if ctx.dry else "SKIP: not found (pip install nvidia-cuda-sanitizer-api, or a CUDA toolkit's bin/)")
        return None
    r = ctx.ours({"task": "step", "config": c, "batch": batch, "size": size, "mode": "efficient"}, timeout=90, wrap=(exe, "--tool", "memcheck", "--error-exitcode", "3", "--print-limit", "20"))
    summary = next((line.strip("= ").strip() for line in reversed(r.out.splitlines()) if "ERROR SUMMARY" in line), None)
    if summary is None:
        # The tool itself did not get going (no debugger interface in a container, a driver mismatch).
        ctx.row(title, f"compute-sanitizer did not run: {(r.out + r.err)[-300:].strip()}", "", "SKIP")
        return None
    clean = r.ok() and r.code == 0 and "ERROR SUMMARY: 0 errors" in summary
    ctx.row(title, f"{summary}" + ("" if r.ok() else f"; step failed: {r.why()}"), "", "PASS" if clean else "FAIL")
    return clean


def preflight(ctx):
    rows = libs.preflight()
    ok = all(good for _, required, good, _ in rows if required)
    ctx.row("preflight", "; ".join(f"{what} {'ok' if good else 'MISSING'}" for what, _, good, _ in rows), "", "PASS" if ok else "FAIL")
    for what, required, good, msg in rows:
        print(f"    {what}: {msg}", flush=True)
    return ok


def device_row(ctx):
    v = ctx.torch_child({"task": "version"}, timeout=60)
    torch_side = f"torch {v.res['torch']} (CUDA {v.res['cuda']}), {v.res['device']}" if v.ok() else f"no torch: {v.why()}"
    if ctx.gpu:
        gpu = f"{ctx.nvml.name()}, driver {ctx.nvml.driver_version()}" if ctx.nvml else "a GPU (no NVML)"
        ctx.row("device", f"{os.environ.get('DENSENET_NATIVE_PATH', '')} on {gpu}", torch_side, "")
    else:
        ctx.row("device", f"dry run (CPU): {os.environ.get('DENSENET_NATIVE_PATH', '')}", torch_side, "")


def run(ctx):
    """Runs the plan; returns the verdicts {parity, nccl, sanitizer}: True, False or None (skipped)."""
    v = {"parity": True, "nccl": None, "sanitizer": None}
    if ctx.gpu:
        if not preflight(ctx):
            v["parity"] = False
            return v
        try:
            # NVML counts physical GPUs; CUDA's device 0 is the first of CUDA_VISIBLE_DEVICES.
            first = os.environ.get("CUDA_VISIBLE_DEVICES", "0").split(",")[0].strip()
            ctx.nvml = Nvml(int(first) if first.isdigit() else 0)
        except OSError as e:
            print(f"    NVML: {e}: the memory rows fall back to each child's max RSS", flush=True)
    device_row(ctx)
    for kind, name, a in plan(ctx.dry):
        if ctx.left() <= 0:
            for t in titles(kind, name, a, ctx.gpu):
                ctx.row(t, "", "", f"not run: the {ctx.budget:.0f} s budget ran out")
            v["parity"] &= kind != "parity"
            continue
        if kind == "parity":
            v["parity"] &= parity(ctx, name, a["c"], a["batch"], a["size"])
        elif kind == "bench":
            bench(ctx, name, a["c"], a["batch"], a["size"], a["warmup"], a["steps"])
        elif kind == "nccl":
            v["nccl"] = nccl(ctx)
        elif kind == "sanitizer":
            v["sanitizer"] = sanitizer(ctx, name, a["c"], a["batch"], a["size"])
        else:
            big(ctx, name, a["c"], a["batch"], a["size"], a["max_batch"])
    return v


def verdict(v):
    return "SKIP" if v is None else ("PASS" if v else "FAIL")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dry-run", action="store_true", help="the same logic on the CPU, small shapes")
    ap.add_argument("--list", action="store_true", help="print the rows the run would print, run nothing")
    ap.add_argument("--node", default=os.environ.get("NODE", "node"))
    ap.add_argument("--python", default=sys.executable, help="the Python with torch for the reference side")
    ap.add_argument("--budget", type=float, default=210.0, help="seconds for the whole check (the largest-batch search stops first; the whole check stays under 4 minutes)")
    a = ap.parse_args()
    if a.list:
        for t in all_titles(not a.dry_run):
            print(t)
        return 0
    if a.dry_run:
        for t in all_titles(True):
            print(f"  would run on the GPU: {t}", flush=True)
    ctx = Ctx(a)
    v = run(ctx)
    widths = [max(len(str(r[i])) for r in ctx.rows + [("check", "ours", "pytorch", "status")]) for i in range(4)]
    line = lambda r: " | ".join(str(x).ljust(w) for x, w in zip(r, widths))
    print(f"\nGPU check ({'dry run, CPU' if ctx.dry else 'CUDA'}; {time.time() - ctx.t0:.0f} s)")
    print(line(("check", "ours", "pytorch", "status")))
    print("-+-".join("-" * w for w in widths))
    for r in ctx.rows:
        print(line(r))
    for k in ("parity", "nccl", "sanitizer"):
        print(f"{k}: {verdict(v[k])}")
    return 0 if v["parity"] and v["nccl"] is not False and v["sanitizer"] is not False else 1


if __name__ == "__main__":
    sys.exit(main())
