"""PyTorch side of benches/finetune_vs_pytorch.mjs: fine-tuning step times of torchvision's densenet121.

    python3 benches/torch_finetune.py [--batch 32] [--size 224] [--steps 3] [--warmup 1] [--threads 2]
        [--modes infer,full,features,blocks123]

f32, random input in [-1, 1) (the same tensor for every mode), random labels, a fresh
torchvision.models.densenet121() (seed 0) per mode, SGD(lr 0.1, momentum 0.9, nesterov,
weight decay 1e-4) over the parameters that train. Modes:

  infer      model.eval() forward under torch.no_grad()
  full       a full training step (model.train())
  features   model.features frozen: requires_grad_(False) and .eval(); the classifier trains
  blocks123  conv0/norm0/relu0/pool0, denseblock1-3 and transition1-3 frozen (requires_grad False,
             eval mode); denseblock4, norm5 and the classifier train

Each mode: `--warmup` untimed steps, then the median of `--steps` timed steps. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
import torchvision

FROZEN_BLOCKS123 = ["conv0", "norm0", "relu0", "pool0", "denseblock1", "transition1",
                    "denseblock2", "transition2", "denseblock3", "transition3"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--modes", default="infer,full,features,blocks123")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    g = torch.Generator().manual_seed(1)
    x = torch.rand(a.batch, 3, a.size, a.size, generator=g) * 2 - 1
    y = torch.randint(0, 1000, (a.batch,), generator=g)
    loss_fn = nn.CrossEntropyLoss()
    out = {"impl": "pytorch", "torch": torch.__version__, "torchvision": torchvision.__version__,
           "threads": torch.get_num_threads(), "batch": a.batch, "size": a.size,
           "steps": a.steps, "warmup": a.warmup, "modes": {}}

    for mode in a.modes.split(","):
        torch.manual_seed(0)
        model = torchvision.models.densenet121()
        if mode == "infer":
            model.eval()

            def step() -> float:
                with torch.no_grad():
                    return float(model(x)[0, 0])
        else:
            model.train()
            frozen = {"full": [], "features": ["features"], "blocks123": [f"features.{n}" for n in FROZEN_BLOCKS123]}[mode]
            for name in frozen:
                m = model.get_submodule(name)
                m.requires_grad_(False)
                m.eval()
            params = [p for p in model.parameters() if p.requires_grad]
            opt = torch.optim.SGD(params, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4)

            def step() -> float:
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(model(x), y)
                loss.backward()
                opt.step()
                return loss.item()

        for _ in range(a.warmup):
            step()
        times = []
        last = float("nan")
        for _ in range(a.steps):
            t = time.perf_counter()
            last = step()
            times.append((time.perf_counter() - t) * 1e3)
        out["modes"][mode] = {"step_ms": statistics.median(times), "step_ms_all": times, "last": last,
                              "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad)}
        del model
    print(json.dumps(out))


if __name__ == "__main__":
    main()
