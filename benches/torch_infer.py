"""PyTorch side of benches/infer_vs_pytorch.mjs: eval-mode inference of torchvision's DenseNet.

    python3 benches/torch_infer.py [--preset densenet121] [--batch 1] [--size 224] [--runs 8]
        [--warmup 2] [--threads N]
    python3 benches/torch_infer.py --export-onnx OUT.onnx [--preset densenet121]

Random weights (timing does not depend on them), f32, torch.inference_mode(). Prints one JSON
line like crates/densenet-cpu/examples/infer_bench.rs. --export-onnx writes the same model with
a dynamic batch axis (input "input", output "logits") for onnxruntime-node and exits; it needs
the `onnx` package (pip install onnx).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_train import build, proc_status_kb  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts", "fixtures"))
from reference_models import PRESETS  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="densenet121")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--size", type=int, default=None)
    ap.add_argument("--runs", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--export-onnx", default=None)
    ap.add_argument("--export-safetensors", default=None, help="with --export-onnx: the same weights, torchvision names")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    cfg = PRESETS[a.preset]
    size = a.size or (32 if cfg["smallInputs"] else 224)
    model = build(a.preset, memory_efficient=False).eval()
    x = torch.rand(a.batch, cfg["inChannels"], size, size) * 2 - 1

    if a.export_onnx:
        torch.onnx.export(
            model,
            (x,),
            a.export_onnx,
            dynamo=False,
            input_names=["input"],
            output_names=["logits"],
            dynamic_axes={"input": {0: "n"}, "logits": {0: "n"}},
            opset_version=17,
        )
        if a.export_safetensors:
            from safetensors.torch import save_file

            state = {k: v.contiguous() for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
            save_file(state, a.export_safetensors)
        print(json.dumps({"exported": a.export_onnx, "torch": torch.__version__}))
        return

    times = []
    with torch.inference_mode():
        for _ in range(a.warmup):
            model(x)
        rss_before = proc_status_kb("VmRSS:")
        for _ in range(a.runs):
            t = time.perf_counter()
            model(x)
            times.append((time.perf_counter() - t) * 1e3)
    lat = statistics.median(times)
    print(
        json.dumps(
            {
                "impl": "pytorch",
                "preset": a.preset,
                "dtype": "f32",
                "batch": a.batch,
                "size": size,
                "threads": torch.get_num_threads(),
                "warmup": a.warmup,
                "runs": a.runs,
                "latency_ms": lat,
                "latency_ms_min": min(times),
                "latency_ms_all": times,
                "images_per_s": a.batch * 1e3 / lat,
                "rss_before_kb": rss_before,
                "peak_rss_kb": proc_status_kb("VmHWM:"),
                "torch": torch.__version__,
            }
        )
    )


if __name__ == "__main__":
    main()
