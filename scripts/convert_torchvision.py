#!/usr/bin/env python3
"""Convert a torchvision DenseNet to safetensors with torchvision's names unchanged.

    python scripts/convert_torchvision.py densenet121 out.safetensors
    python scripts/convert_torchvision.py densenet121 out.safetensors --pretrained-path densenet121-a639ec97.pth

The resulting file loads directly into the SDK (weight names are torchvision's
state_dict keys; the SDK ignores num_batches_tracked). Without --pretrained-path
the model keeps torchvision's random initialisation (handy for smoke tests).
Nothing is downloaded: fetch the .pth yourself, e.g. from the URL torchvision
lists for DenseNet121_Weights.IMAGENET1K_V1.

The file's metadata carries the SDK config JSON under "config".
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import OrderedDict

import torch
import torchvision

# name -> (growth_rate, block_config, num_init_features)
ARCHS = {
    "densenet121": (32, (6, 12, 24, 16), 64),
    "densenet161": (48, (6, 12, 36, 24), 96),
    "densenet169": (32, (6, 12, 32, 32), 64),
    "densenet201": (32, (6, 12, 48, 32), 64),
}

# Old torchvision checkpoints (the published .pth files) name layers "norm.1", "conv.2", ...
# torchvision.models.densenet._load_state_dict applies the same rewrite.
_LEGACY = re.compile(r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var|num_batches_tracked))$")


def fix_legacy_names(sd):
    out = OrderedDict()
    for k, v in sd.items():
        if k.startswith("module."):  # saved from nn.DataParallel
            k = k[len("module.") :]
        m = _LEGACY.match(k)
        if m:
            k = m.group(1) + m.group(2)
        out[k] = v
    return out


def load_pth(path):
    obj = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise SystemExit(f"{path}: expected a state dict, got {type(obj).__name__}")
    return fix_legacy_names(obj)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("arch", choices=sorted(ARCHS))
    ap.add_argument("out", help="output .safetensors path")
    ap.add_argument("--pretrained-path", help="a torchvision state dict (.pth) to load first")
    ap.add_argument("--num-classes", type=int, default=None, help="classifier size (default 1000, or the checkpoint's)")
    ap.add_argument("--dtype", choices=["float32", "float16", "bfloat16", "float64"], default="float32")
    args = ap.parse_args(argv)

    from safetensors.torch import save_file

    k, blocks, c0 = ARCHS[args.arch]
    sd = load_pth(args.pretrained_path) if args.pretrained_path else None
    num_classes = args.num_classes
    if num_classes is None:
        num_classes = sd["classifier.weight"].shape[0] if sd is not None and "classifier.weight" in sd else 1000
    model = torchvision.models.DenseNet(
        growth_rate=k, block_config=blocks, num_init_features=c0, bn_size=4, drop_rate=0, num_classes=num_classes
    )
    if sd is not None:
        missing, unexpected = model.load_state_dict(sd, strict=False)
        missing = [m for m in missing if not m.endswith("num_batches_tracked")]
        if missing or unexpected:
            raise SystemExit(f"state dict does not match {args.arch}: missing {missing[:5]}, unexpected {unexpected[:5]}")

    dtype = getattr(torch, args.dtype)
    tensors = OrderedDict()
    for name, t in model.state_dict().items():
        t = t.detach()
        if t.is_floating_point():
            t = t.to(dtype)
        tensors[name] = t.contiguous().clone()
    config = OrderedDict(
        growthRate=k,
        blockConfig=list(blocks),
        numInitFeatures=c0,
        bottleneck=True,
        bnSize=4,
        compression=0.5,
        dropRate=0,
        numClasses=num_classes,
        inChannels=3,
        smallInputs=False,
    )
    meta = {
        "config": json.dumps(config, separators=(",", ":")),
        "arch": args.arch,
        "source": "torchvision " + torchvision.__version__ + (" + " + args.pretrained_path if sd is not None else " (random init)"),
    }
    save_file(tensors, args.out, metadata=meta)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"wrote {args.out}: {len(tensors)} tensors, {n_params:,} parameters, {args.dtype}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
