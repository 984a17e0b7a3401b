#!/usr/bin/env python3
"""The GPU check of the CUDA backend (issue #12), run by check.sh. Prints one table last:

  * parity vs PyTorch on the same device (f32, TF32 off on both sides): eval logits, train loss,
    every gradient (our momentum buffer after one step with weight decay 0 is the gradient), the
    parameters after one SGD step (lr 0.1, momentum 0.9, Nesterov) and the BN running statistics;
    tolerance 1e-4 (relative, per tensor);
  * densenet-bc-100, batch 64, 32x32: training img/s, ours vs PyTorch + cuDNN fp32, both memory
    modes (ours efficient/naive, torchvision-style memory_efficient True/False), and peak memory;
  * densenet264, 224x224, batch 64: one training step (time, peak memory), and the largest batch
    whose step fits (doubling from 64, then bisecting, each try in a fresh process);
  * NCCL smoke (world of 1): our addon's cudaNcclSmoke('cuda'): NCCL's in-place all-reduce of
    known f32 and f64 device buffers (and host values through a device buffer) in a group of one
    process, exact. In --dry-run the CPU addon must answer ERR_DEVICE (the row says what would run).

Peak memory: on the GPU the device-wide used memory (cuMemGetInfo, polled every 20 ms) minus the
idle baseline, the same measure for both processes (so it includes each one's CUDA context); in
--dry-run the child's max RSS. --dry-run runs the same logic on the CPU (our CPU addon, torch CPU)
on small shapes, so CI checks the script itself.

Needs: python3 + torch; node + our addon (DENSENET_NATIVE_PATH). No Rust, no npm.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import struct
import subprocess
import sys
import tempfile
import threading
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint as cp

HERE = os.path.dirname(os.path.abspath(__file__))
TOL = 1e-4

BC100 = {"growthRate": 12, "blockConfig": [16, 16, 16], "numInitFeatures": 24, "bottleneck": True, "bnSize": 4, "compression": 0.5, "dropRate": 0, "numClasses": 10, "inChannels": 3, "smallInputs": True}
D264 = {"growthRate": 32, "blockConfig": [6, 12, 64, 48], "numInitFeatures": 64, "bottleneck": True, "bnSize": 4, "compression": 0.5, "dropRate": 0, "numClasses": 1000, "inChannels": 3, "smallInputs": False}


def cfg(**kw):
    c = dict(BC100)
    c.update(kw)
    return c


# ---- the PyTorch reference (torchvision's module names and memory_efficient checkpointing) ----


class DenseLayer(nn.Module):
    def __init__(self, cin, k, bn_size, memory_efficient):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(cin)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(cin, bn_size * k, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * k)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(bn_size * k, k, 3, padding=1, bias=False)
        self.memory_efficient = memory_efficient

    def bn_function(self, *inputs):
        return self.conv1(self.relu1(self.norm1(torch.cat(inputs, 1))))

    def forward(self, inputs):
        if self.memory_efficient and any(t.requires_grad for t in inputs):
            b = cp.checkpoint(self.bn_function, *inputs, use_reentrant=False)
        else:
            b = self.bn_function(*inputs)
        return self.conv2(self.relu2(self.norm2(b)))


class DenseBlock(nn.ModuleDict):
    def __init__(self, n, cin, k, bn_size, memory_efficient):
        super().__init__()
        for i in range(n):
            self.add_module(f"denselayer{i + 1}", DenseLayer(cin + i * k, k, bn_size, memory_efficient))

    def forward(self, x):
        feats = [x]
        for layer in self.values():
            feats.append(layer(feats))
        return torch.cat(feats, 1)


class DenseNet(nn.Module):
    def __init__(self, c, memory_efficient=False):
        super().__init__()
        assert c["bottleneck"] and not c["dropRate"], "the check uses BC configs without dropout"
        f = nn.Sequential()
        ch = c["numInitFeatures"]
        if c["smallInputs"]:
            f.add_module("conv0", nn.Conv2d(c["inChannels"], ch, 3, padding=1, bias=False))
        else:
            f.add_module("conv0", nn.Conv2d(c["inChannels"], ch, 7, stride=2, padding=3, bias=False))
            f.add_module("norm0", nn.BatchNorm2d(ch))
            f.add_module("relu0", nn.ReLU(inplace=True))
            f.add_module("pool0", nn.MaxPool2d(3, stride=2, padding=1))
        k = c["growthRate"]
        for i, n in enumerate(c["blockConfig"]):
            f.add_module(f"denseblock{i + 1}", DenseBlock(n, ch, k, c["bnSize"], memory_efficient))
            ch += n * k
            if i + 1 < len(c["blockConfig"]):
                out = int(math.floor(c["compression"] * ch))
                t = nn.Sequential()
                t.add_module("norm", nn.BatchNorm2d(ch))
                t.add_module("relu", nn.ReLU(inplace=True))
                t.add_module("conv", nn.Conv2d(ch, out, 1, bias=False))
                t.add_module("pool", nn.AvgPool2d(2, stride=2))
                f.add_module(f"transition{i + 1}", t)
                ch = out
        f.add_module("norm5", nn.BatchNorm2d(ch))
        self.features = f
        self.classifier = nn.Linear(ch, c["numClasses"])

    def forward(self, x):
        x = F.relu(self.features(x))
        return self.classifier(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def read_safetensors(path):
    with open(path, "rb") as fh:
        (n,) = struct.unpack("<Q", fh.read(8))
        header = json.loads(fh.read(n))
        data = fh.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", f"{name}: {info['dtype']}"
        a, b = info["data_offsets"]
        out[name] = torch.frombuffer(bytearray(data[a:b]), dtype=torch.float32).reshape(info["shape"])
    return out


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        b = t.detach().float().cpu().contiguous().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def parity_weights(m, c, seed=3):
    """PyTorch's init with the BN affine parameters and running statistics randomized (so every
    term of the BN backward matters); the ImageNet stem's norm0 bias shifted up so the max pool
    after it sees no near-ties at zero (where f32 rounding would move an argmax)."""
    g = torch.Generator().manual_seed(seed)
    sd = m.state_dict()
    for k, v in sd.items():
        r = torch.rand(v.shape, generator=g) if v.is_floating_point() else None
        if k.endswith(".weight") and v.dim() == 1:
            v.copy_(0.5 + r)
        elif k.endswith(".bias") and "norm" in k:
            v.copy_(0.4 * r - 0.2 + (2.0 if k == "features.norm0.bias" else 0.0))
        elif k.endswith("running_mean"):
            v.copy_(0.4 * r - 0.2)
        elif k.endswith("running_var"):
            v.copy_(0.5 + r)
    return {k: v for k, v in sd.items() if not k.endswith("num_batches_tracked")}


def rel(a, b):
    a, b = a.detach().double().cpu().flatten(), b.detach().double().cpu().flatten()
    return float((a - b).norm() / max(float(b.norm()), 1e-30))


# ---- running the two sides and measuring memory ----


class Peak:
    """Peak memory of one child process, polled every 20 ms: on the GPU the device-wide used
    memory minus the idle baseline; on the CPU (dry run) the child's VmHWM (max RSS)."""

    def __init__(self, gpu, pid):
        self.gpu, self.pid = gpu, pid
        self.base = self.used() if gpu else 0
        self.peak = 0
        self.stop = threading.Event()
        self.t = threading.Thread(target=self.poll, daemon=True)
        self.t.start()

    def used(self):
        if self.gpu:
            free, total = torch.cuda.mem_get_info()
            return total - free
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


def run_child(cmd, gpu, timeout, env=None):
    """(parsed last JSON line or None, peak bytes, stderr tail)."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    pk = Peak(gpu, p.pid)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        err += f"\n(timed out after {timeout}s)"
    peak = pk.done()
    res = None
    for line in reversed(out.strip().splitlines()):
        try:
            res = json.loads(line)
            break
        except ValueError:
            continue
    return res, peak, err[-2000:]


class Ctx:
    def __init__(self, a):
        self.dry = a.dry_run
        self.gpu = not a.dry_run
        self.device = "cuda" if self.gpu else "cpu"
        self.node = a.node
        self.t0 = time.time()
        self.budget = a.budget
        self.rows = []

    def ours(self, task, timeout=240):
        task = dict(task, device=self.device)
        return run_child([self.node, os.path.join(HERE, "ours.mjs"), json.dumps(task)], self.gpu, timeout)

    def torch_child(self, task, timeout=240):
        return run_child([sys.executable, os.path.abspath(__file__), "--torch-task", json.dumps(dict(task, device=self.device))], self.gpu, timeout)

    def left(self):
        return self.budget - (time.time() - self.t0)

    def row(self, what, ours="", torch_="", status=""):
        self.rows.append((what, ours, torch_, status))
        print(f"  {what}: ours {ours} | pytorch {torch_} | {status}", file=sys.stderr, flush=True)


def fmt_bytes(b):
    return f"{b / 2**30:.2f} GiB" if b >= 2**30 else f"{b / 2**20:.0f} MiB"


def no_tf32():
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")


# ---- the checks ----


def parity(ctx, name, c, batch, size):
    with tempfile.TemporaryDirectory() as d:
        g = torch.Generator().manual_seed(7)
        x = torch.rand(batch, c["inChannels"], size, size, generator=g) * 2 - 1
        y = torch.randint(0, c["numClasses"], (batch,), generator=g, dtype=torch.int32)
        x.numpy().tofile(os.path.join(d, "x.f32"))
        y.numpy().tofile(os.path.join(d, "y.i32"))
        torch.manual_seed(5)
        m = DenseNet(c)
        with torch.no_grad():
            write_safetensors(os.path.join(d, "w0.safetensors"), parity_weights(m, c))
        res, _, err = ctx.ours({"task": "parity", "config": c, "dir": d, "batch": batch, "size": size})
        if not res or "evalLogits" not in res:
            ctx.row(f"parity {name}", "failed", "", f"FAIL: {res} {err[-500:]}")
            return False
        c1 = read_safetensors(os.path.join(d, "c1.safetensors"))
    dev = torch.device(ctx.device)
    m = m.to(dev)
    xd, yd = x.to(dev), y.long().to(dev)
    m.eval()
    with torch.no_grad():
        logits = m(xd)
    e_logits = rel(torch.tensor(res["evalLogits"]).reshape(logits.shape), logits)
    m.train()
    out = m(xd)
    loss = F.cross_entropy(out, yd)
    loss.backward()
    e_loss = abs(res["trainLoss"] - loss.item()) / abs(loss.item())
    # Per tensor ‖ours − torch‖ / ‖torch‖, except that the denominator is at least a typical
    # gradient's norm for that many elements: a few gradients are zero up to rounding (e.g. the
    # stem BN's, when every consumer renormalizes per channel), where a ratio means nothing.
    grads = {k: p.grad for k, p in m.named_parameters()}
    total = sum(g.numel() for g in grads.values())
    rms = math.sqrt(sum(float(g.double().norm()) ** 2 for g in grads.values()) / total)
    worst_g, worst_g_name = 0.0, ""
    for k, gt in grads.items():
        ours = c1[f"optimizer.momentum.{k}"]
        floor = rms * math.sqrt(gt.numel())
        e = float((ours.double() - gt.detach().double().cpu()).norm()) / max(float(gt.double().norm()), floor)
        if e > worst_g:
            worst_g, worst_g_name = e, k
    opt = torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=0)
    opt.step()
    worst_p, worst_p_name, worst_s, worst_s_name = 0.0, "", 0.0, ""
    for k, v in m.state_dict().items():
        if k.endswith("num_batches_tracked"):
            continue
        e = rel(c1[k], v)
        if "running" in k:
            if e > worst_s:
                worst_s, worst_s_name = e, k
        elif e > worst_p:
            worst_p, worst_p_name = e, k
    ok = True
    for what, e, where in [("eval logits", e_logits, ""), ("train loss", e_loss, ""), (f"every gradient ({len(list(m.parameters()))})", worst_g, worst_g_name),
                           ("params after 1 SGD step", worst_p, worst_p_name), ("BN running stats", worst_s, worst_s_name)]:
        good = e <= TOL
        ok &= good
        ctx.row(f"parity {name}: {what}", f"max rel err {e:.1e}" + (f" ({where})" if where else ""), "reference", ("PASS" if good else "FAIL") + f" (<= {TOL:g})")
    return ok


def bench(ctx, name, c, batch, size, warmup, steps):
    for ours_mode, torch_eff in [("efficient", True), ("naive", False)]:
        task = {"config": c, "batch": batch, "size": size, "warmup": warmup, "steps": steps}
        r_o, p_o, e_o = ctx.ours(dict(task, task="bench", mode=ours_mode))
        r_t, p_t, e_t = ctx.torch_child(dict(task, task="bench", memory_efficient=torch_eff))
        ok_o, ok_t = bool(r_o and r_o.get("ok")), bool(r_t and r_t.get("ok"))
        ratio = f"{r_o['imgPerSec'] / r_t['imgPerSec']:.2f}x" if ok_o and ok_t else ""
        ctx.row(f"{name} b{batch} {size}px train img/s ({ours_mode} / memory_efficient={torch_eff})",
                f"{r_o['imgPerSec']:.0f}" if ok_o else f"failed: {(r_o or {}).get('message', e_o[-300:])}",
                f"{r_t['imgPerSec']:.0f}" if ok_t else f"failed: {(r_t or {}).get('message', e_t[-300:])}", f"ours/pytorch {ratio}")
        ctx.row(f"{name} b{batch} peak {'GPU' if ctx.gpu else 'RSS'} memory ({ours_mode} / memory_efficient={torch_eff})", fmt_bytes(p_o), fmt_bytes(p_t),
                f"ours/pytorch {p_o / max(p_t, 1):.2f}")


def big(ctx, name, c, batch, size, max_batch):
    task = {"config": c, "size": size, "mode": "efficient"}
    r, p, e = ctx.ours(dict(task, task="step", batch=batch), timeout=300)
    rt, pt, et = ctx.torch_child(dict(task, task="step", batch=batch, memory_efficient=True), timeout=300)
    ctx.row(f"{name} {size}px b{batch}: one training step",
            f"{r['seconds']:.2f} s, peak {fmt_bytes(p)}" if r and r.get("ok") else f"failed: {(r or {}).get('code', '')} {(r or {}).get('message', e[-300:])}",
            f"{rt['seconds']:.2f} s, peak {fmt_bytes(pt)}" if rt and rt.get("ok") else f"failed: {(rt or {}).get('message', et[-300:])}",
            "memory_efficient=True on the PyTorch side")
    # The largest batch of ours that fits: double, then bisect, while the time budget lasts.
    lo, hi, b = (batch if r and r.get("ok") else 0), None, batch * 2
    tries = []
    while b <= max_batch and ctx.left() > 60:
        # A try that runs past the budget is killed and counts as not fitting in time.
        rb, pb, eb = ctx.ours(dict(task, task="step", batch=b), timeout=max(30, min(240, ctx.left() - 15)))
        ok = bool(rb and rb.get("ok"))
        tries.append(f"{b}:{'ok' if ok else (rb or {}).get('code', 'timeout' if 'timed out' in eb else 'crash')}")
        if ok:
            lo = b
        else:
            hi = b
        if hi is None:
            b *= 2
        elif hi - lo > max(batch // 4, 1) and len(tries) < 8:
            b = (lo + hi) // 2
        else:
            break
    bound = f"< {hi}" if hi else f"(not reached up to {max_batch})"
    ctx.row(f"{name} {size}px: largest batch that trains (ours, efficient)", f"{lo} {bound}", "", "tries " + " ".join(tries))


# ---- the PyTorch child (benchmarks in their own process, measured like ours) ----


def nccl(ctx):
    what = "NCCL smoke (world of 1)"
    res, _, err = ctx.ours({"task": "nccl", "ncclDevice": "cuda"}, timeout=120)
    if ctx.dry:
        would = "would run cudaNcclSmoke('cuda'): NCCL in-place all-reduce (f32, f64, host) on 1 rank"
        if res and res.get("code") == "ERR_DEVICE":
            ctx.row(what, would, "", "dry run: the CPU build answers ERR_DEVICE, as it must")
            return True
        ctx.row(what, would, "", f"FAIL: the CPU build must answer ERR_DEVICE, got {res} {err[-300:]}")
        return False
    if res and res.get("ok") is True and res.get("ranks") == 1 and res.get("sum") == res.get("expected"):
        ctx.row(what, f"{res['library']} on {res['device']}: 1 rank, sum {res['sum']:g} exact", "", "PASS")
        return True
    ctx.row(what, "failed", "", f"FAIL: {res} {err[-500:]}")
    return False


def torch_task(t):
    dev = torch.device(t["device"])
    no_tf32()
    torch.backends.cudnn.benchmark = True
    c = t["config"]
    m = DenseNet(c, memory_efficient=t.get("memory_efficient", False)).to(dev)
    opt = torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4)
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(t["batch"], c["inChannels"], t["size"], t["size"], generator=g) * 2 - 1).to(dev)
    y = torch.randint(0, c["numClasses"], (t["batch"],), generator=g).to(dev)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(m(x), y)
        loss.backward()
        opt.step()
        return loss

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    try:
        if t["task"] == "bench":
            for _ in range(t["warmup"]):
                step()
            sync()
            times = []
            for _ in range(t["steps"]):
                s = time.perf_counter()
                step()
                sync()
                times.append(time.perf_counter() - s)
            times.sort()
            med = times[len(times) // 2]
            print(json.dumps({"ok": True, "median": med, "imgPerSec": t["batch"] / med}))
        else:
            s = time.perf_counter()
            loss = step()
            sync()
            print(json.dumps({"ok": True, "seconds": time.perf_counter() - s, "loss": loss.item()}))
    except torch.OutOfMemoryError as e:
        print(json.dumps({"ok": False, "code": "OOM", "message": str(e)[:200]}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dry-run", action="store_true", help="the same logic on the CPU, small shapes")
    ap.add_argument("--node", default=os.environ.get("NODE", "node"))
    ap.add_argument("--budget", type=float, default=280.0, help="seconds for the whole check (the largest-batch search stops first)")
    ap.add_argument("--torch-task")
    a = ap.parse_args()
    if a.torch_task:
        torch_task(json.loads(a.torch_task))
        return 0
    ctx = Ctx(a)
    if ctx.gpu:
        assert torch.cuda.is_available(), "no GPU for torch: run with --dry-run on a machine without one"
        no_tf32()
        torch.zeros(1, device="cuda")  # the context, before the memory baseline
        ctx.row("device", os.environ.get("DENSENET_NATIVE_PATH", ""), f"torch {torch.__version__}, {torch.cuda.get_device_name(0)}", "")
    else:
        ctx.row("device", f"dry run (CPU): {os.environ.get('DENSENET_NATIVE_PATH', '')}", f"torch {torch.__version__} CPU", "")
    ok = True
    if ctx.dry:
        ok &= parity(ctx, "cifar-bc k4 [2,2,2] b4 8px", cfg(growthRate=4, blockConfig=[2, 2, 2], numInitFeatures=8), 4, 8)
        ok &= parity(ctx, "imagenet-stem k4 [2,2] b3 19px", dict(D264, growthRate=4, blockConfig=[2, 2], numInitFeatures=8, numClasses=7), 3, 19)
        bench(ctx, "bc k12 [2,2,2]", cfg(blockConfig=[2, 2, 2]), 4, 16, 1, 2)
        big(ctx, "imagenet-stem k8 [2,2]", dict(D264, growthRate=8, blockConfig=[2, 2], numInitFeatures=16), 2, 32, 8)
        ok &= nccl(ctx)
    else:
        ok &= parity(ctx, "densenet-bc k12 [6,6,6] b16 32px", cfg(blockConfig=[6, 6, 6]), 16, 32)
        ok &= parity(ctx, "imagenet-stem k16 [3,3,3] b8 64px", dict(D264, growthRate=16, blockConfig=[3, 3, 3], numInitFeatures=32, numClasses=100), 8, 64)
        bench(ctx, "densenet-bc-100", BC100, 64, 32, 3, 15)
        ok &= nccl(ctx)
        big(ctx, "densenet264", D264, 64, 224, 4096)
    widths = [max(len(str(r[i])) for r in ctx.rows + [("check", "ours", "pytorch", "status")]) for i in range(4)]
    line = lambda r: " | ".join(str(v).ljust(w) for v, w in zip(r, widths))
    print(f"\nGPU check ({'dry run, CPU' if ctx.dry else 'CUDA'}; {time.time() - ctx.t0:.0f} s)")
    print(line(("check", "ours", "pytorch", "status")))
    print("-+-".join("-" * w for w in widths))
    for r in ctx.rows:
        print(line(r))
    print(f"parity: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
