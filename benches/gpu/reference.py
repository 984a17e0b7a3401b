#!/usr/bin/env python3
"""The PyTorch side of the GPU check (benches/gpu/check.py), always in a process of its own, so the
check's parent never holds a CUDA context while our Node side runs. One task per run, given as one
JSON argument; the answer is the last JSON line on stdout:

  {"task": "version", "device": D}                  torch's version and what it runs on
  {"task": "inputs", "dir": P, "config": C, ...}    the parity inputs: x.f32, y.i32, w0.safetensors
  {"task": "parity", "dir": P, "config": C, ...}    the reference against ours (ours.json, c1.safetensors)
  {"task": "bench" | "step", ...}                   training speed, one training step
"""

from __future__ import annotations

import json
import math
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint as cp


# ---- the reference model (torchvision's module names and memory_efficient checkpointing) ----


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


def no_tf32():
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")


# ---- the tasks ----


def version_task(t):
    if t["device"] == "cuda":
        return {"ok": True, "torch": torch.__version__, "cuda": torch.version.cuda, "device": torch.cuda.get_device_name(0)}
    return {"ok": True, "torch": torch.__version__, "cuda": None, "device": "CPU"}


def inputs_task(t):
    """x (NCHW f32), y (i32) and PyTorch's weights with randomized BN (parity_weights) into dir."""
    c, d = t["config"], t["dir"]
    g = torch.Generator().manual_seed(7)
    x = torch.rand(t["batch"], c["inChannels"], t["size"], t["size"], generator=g) * 2 - 1
    y = torch.randint(0, c["numClasses"], (t["batch"],), generator=g, dtype=torch.int32)
    x.numpy().tofile(os.path.join(d, "x.f32"))
    y.numpy().tofile(os.path.join(d, "y.i32"))
    torch.manual_seed(5)
    m = DenseNet(c)
    with torch.no_grad():
        write_safetensors(os.path.join(d, "w0.safetensors"), parity_weights(m, c))
    return {"ok": True}


def parity_task(t):
    """[what, max rel err, worst tensor] of ours (dir/ours.json, dir/c1.safetensors) vs PyTorch."""
    c, d = t["config"], t["dir"]
    dev = torch.device(t["device"])
    no_tf32()
    shape = (t["batch"], c["inChannels"], t["size"], t["size"])
    x = torch.from_numpy(np.fromfile(os.path.join(d, "x.f32"), dtype="float32").reshape(shape))
    y = torch.from_numpy(np.fromfile(os.path.join(d, "y.i32"), dtype="int32"))
    with open(os.path.join(d, "ours.json")) as fh:
        res = json.load(fh)
    c1 = read_safetensors(os.path.join(d, "c1.safetensors"))
    m = DenseNet(c)
    m.load_state_dict(read_safetensors(os.path.join(d, "w0.safetensors")), strict=False)
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
    return {"ok": True, "rows": [["eval logits", e_logits, ""], ["train loss", e_loss, ""], [f"every gradient ({len(list(m.parameters()))})", worst_g, worst_g_name],
                                 ["params after 1 SGD step", worst_p, worst_p_name], ["BN running stats", worst_s, worst_s_name]]}


def train_task(t):
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
            return {"ok": True, "median": med, "imgPerSec": t["batch"] / med}
        else:
            s = time.perf_counter()
            loss = step()
            sync()
            return {"ok": True, "seconds": time.perf_counter() - s, "loss": loss.item()}
    except torch.OutOfMemoryError as e:
        return {"ok": False, "code": "OOM", "message": str(e)[:200]}


TASKS = {"version": version_task, "inputs": inputs_task, "parity": parity_task, "bench": train_task, "step": train_task}


if __name__ == "__main__":
    task = json.loads(sys.argv[1])
    print(json.dumps(TASKS[task["task"]](task)), flush=True)
