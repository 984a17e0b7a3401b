"""PyTorch side of benches/train_vs_pytorch.mjs: a training-step benchmark of the same model.

    python3 benches/torch_train.py [--preset densenet-bc-100] [--batch 64] [--size 32]
        [--steps 10] [--warmup 2] [--threads N] [--memory-efficient] [--one-step]

The model is torchvision.models.DenseNet (so memory_efficient=True/False is torchvision's own
checkpointing) with the CIFAR stem swapped in for CIFAR presets: conv0 3x3/1, no norm0/relu0/
pool0 — the same network as scripts/fixtures/reference_models.py's RefDenseNet (checked by its
parameter count). f32, random data, SGD(lr 0.1, momentum 0.9, nesterov, weight decay 1e-4).
Prints one JSON line like crates/densenet-cpu/examples/train_bench.rs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn as nn
import torchvision

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts", "fixtures"))
from reference_models import EXPECTED_PARAMS, PRESETS, count_params  # noqa: E402


# The seed's configuration (DenseNet-BC, depth 40, k 12): densenet-bc-100 with 6 layers per
# block; its parameter count is the Rust side's (train_bench prints it), 176,122.
PRESETS["densenet-bc-40"] = dict(PRESETS["densenet-bc-100"], blockConfig=[6, 6, 6])
EXPECTED_PARAMS["densenet-bc-40"] = 176122


def proc_status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


def build(preset: str, memory_efficient: bool) -> nn.Module:
    cfg = PRESETS[preset]
    if not cfg["bottleneck"] or float(cfg["compression"]) != 0.5 or float(cfg["dropRate"]) != 0:
        raise SystemExit(f"{preset}: torchvision's DenseNet expresses only BC configs with compression 0.5")
    model = torchvision.models.DenseNet(
        growth_rate=cfg["growthRate"],
        block_config=tuple(cfg["blockConfig"]),
        num_init_features=cfg["numInitFeatures"],
        bn_size=cfg["bnSize"],
        drop_rate=0,
        num_classes=cfg["numClasses"],
        memory_efficient=memory_efficient,
    )
    if cfg["smallInputs"]:
        model.features.conv0 = nn.Conv2d(cfg["inChannels"], cfg["numInitFeatures"], 3, 1, 1, bias=False)
        del model.features.norm0
        del model.features.relu0
        del model.features.pool0
    n = count_params(model)
    if n != EXPECTED_PARAMS[preset]:
        raise SystemExit(f"{preset}: built {n} parameters, expected {EXPECTED_PARAMS[preset]}")
    return model


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="densenet-bc-100")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--size", type=int, default=None)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--memory-efficient", action="store_true")
    ap.add_argument("--one-step", action="store_true")
    a = ap.parse_args()
    if a.one_step:
        a.steps, a.warmup = 1, 0
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    cfg = PRESETS[a.preset]
    size = a.size or (32 if cfg["smallInputs"] else 224)
    model = build(a.preset, a.memory_efficient).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.rand(a.batch, cfg["inChannels"], size, size) * 2 - 1
    y = torch.randint(0, cfg["numClasses"], (a.batch,))

    def step() -> float:
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return float(loss)

    for _ in range(a.warmup):
        step()
    rss_before = proc_status_kb("VmRSS:")
    hwm_before = proc_status_kb("VmHWM:")
    times = []
    loss = float("nan")
    for _ in range(a.steps):
        t = time.perf_counter()
        loss = step()
        times.append((time.perf_counter() - t) * 1e3)
    step_ms = statistics.median(times)
    print(
        json.dumps(
            {
                "impl": "pytorch",
                "mode": "memory_efficient" if a.memory_efficient else "default",
                "preset": a.preset,
                "dtype": "f32",
                "batch": a.batch,
                "size": size,
                "threads": torch.get_num_threads(),
                "warmup": a.warmup,
                "steps": a.steps,
                "step_ms": step_ms,
                "step_ms_min": min(times),
                "step_ms_all": times,
                "images_per_s": a.batch * 1e3 / step_ms,
                "loss": loss,
                "params": count_params(model),
                "rss_before_kb": rss_before,
                "hwm_before_kb": hwm_before,
                "peak_rss_kb": proc_status_kb("VmHWM:"),
                "torch": torch.__version__,
                "torchvision": torchvision.__version__,
            }
        )
    )


if __name__ == "__main__":
    main()
