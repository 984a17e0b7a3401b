"""PyTorch side of benches/epoch_vs_pytorch.mjs: one epoch of the reference recipe, end to end.

    python3 benches/torch_epoch.py --data DIR --out DIR [--preset densenet-bc-40] [--epochs 1]
        [--batch 64] [--validation-size 500] [--threads 2] [--workers 0] [--seed 0]

What a user of the reference PyTorch implementation runs: the CIFAR-10 binary files in DIR
(data_batch_1.bin..data_batch_5.bin, test_batch.bin: 3,073-byte records), `validation-size`
training images held out, a DataLoader (batch 64, shuffled) with RandomCrop(32, padding 4),
RandomHorizontalFlip, ToTensor, Normalize(CIFAR mean/std) on PIL images, torchvision's DenseNet
with memory_efficient=True and the CIFAR stem (benches/torch_train.py's build, checked by its
parameter count), SGD lr 0.1, Nesterov momentum 0.9, weight decay 1e-4, lr ÷10 at 50%/75% of the
epochs; after each epoch: validation and test passes in eval mode, a `results.csv` row
(epoch,train_loss,train_error,valid_loss,valid_error,test_error) and the model saved when its
validation error is the lowest so far. Prints one JSON line: seconds of the whole run (process
start to end), of the epochs, of training, images/s and the process's peak RSS (VmHWM).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

T_START = time.perf_counter()

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from PIL import Image  # noqa: E402
from torch.utils.data import DataLoader, Dataset  # noqa: E402
from torchvision import transforms  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_train import build, proc_status_kb  # noqa: E402

MEAN = (0.49139968, 0.48215841, 0.44653091)
STD = (0.24703223, 0.24348513, 0.26158784)
RECORD = 3073


def read_cifar_binary(paths: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Images as uint8 [N, 32, 32, 3] (HWC, for PIL) and labels as int64 [N]."""
    parts = []
    for p in paths:
        raw = np.fromfile(p, dtype=np.uint8)
        if raw.size % RECORD:
            raise SystemExit(f"{p}: {raw.size} bytes is not a multiple of the {RECORD}-byte record")
        parts.append(raw.reshape(-1, RECORD))
    recs = np.concatenate(parts)
    return recs[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy(), recs[:, 0].astype(np.int64)


class Images(Dataset):
    def __init__(self, images: np.ndarray, labels: np.ndarray, transform) -> None:
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        return self.transform(Image.fromarray(self.images[i])), int(self.labels[i])


def evaluate(model: torch.nn.Module, loader: DataLoader) -> tuple[float, float]:
    model.eval()
    loss_sum, wrong, n = 0.0, 0, 0
    with torch.no_grad():
        for x, y in loader:
            out = model(x)
            loss_sum += F.cross_entropy(out, y, reduction="sum").item()
            wrong += (out.argmax(1) != y).sum().item()
            n += len(y)
    return loss_sum / n, wrong / n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--preset", default="densenet-bc-40")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--validation-size", type=int, default=500)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    os.makedirs(a.out, exist_ok=True)

    train_x, train_y = read_cifar_binary([os.path.join(a.data, f"data_batch_{i}.bin") for i in range(1, 6)])
    test_x, test_y = read_cifar_binary([os.path.join(a.data, "test_batch.bin")])
    perm = np.random.default_rng(a.seed).permutation(len(train_y))
    valid_idx, train_idx = perm[: a.validation_size], perm[a.validation_size :]
    normalize = transforms.Normalize(MEAN, STD)
    train_tf = transforms.Compose([transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip(), transforms.ToTensor(), normalize])
    eval_tf = transforms.Compose([transforms.ToTensor(), normalize])
    loader = lambda ds, shuffle: DataLoader(ds, batch_size=a.batch, shuffle=shuffle, num_workers=a.workers)  # noqa: E731
    train_loader = loader(Images(train_x[train_idx], train_y[train_idx], train_tf), True)
    valid_loader = loader(Images(train_x[valid_idx], train_y[valid_idx], eval_tf), False)
    test_loader = loader(Images(test_x, test_y, eval_tf), False)

    model = build(a.preset, memory_efficient=True)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[int(0.5 * a.epochs), int(0.75 * a.epochs)], gamma=0.1)

    best = float("inf")
    train_s = 0.0
    t_epochs = time.perf_counter()
    with open(os.path.join(a.out, "results.csv"), "w") as csv:
        csv.write("epoch,train_loss,train_error,valid_loss,valid_error,test_error\n")
        for epoch in range(1, a.epochs + 1):
            model.train()
            t0 = time.perf_counter()
            loss_sum, wrong, n = 0.0, 0, 0
            for x, y in train_loader:
                out = model(x)
                loss = F.cross_entropy(out, y)
                opt.zero_grad()
                loss.backward()
                opt.step()
                loss_sum += loss.item() * len(y)
                wrong += (out.argmax(1) != y).sum().item()
                n += len(y)
            train_s += time.perf_counter() - t0
            sched.step()
            valid_loss, valid_error = evaluate(model, valid_loader)
            _, test_error = evaluate(model, test_loader)
            csv.write(f"{epoch},{loss_sum / n:.6f},{wrong / n:.6f},{valid_loss:.6f},{valid_error:.6f},{test_error:.6f}\n")
            csv.flush()
            if valid_error < best:
                best = valid_error
                torch.save(model.state_dict(), os.path.join(a.out, "model.pt"))
    epochs_s = time.perf_counter() - t_epochs
    print(json.dumps({
        "side": "pytorch",
        "preset": a.preset,
        "epochs": a.epochs,
        "train_images": int(len(train_idx)),
        "epochs_s": epochs_s,
        "train_s": train_s,
        "total_s": time.perf_counter() - T_START,
        "train_img_per_s": len(train_idx) * a.epochs / train_s,
        "test_error": test_error,
        "peak_rss_kb": proc_status_kb("VmHWM:"),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "workers": a.workers,
    }))


if __name__ == "__main__":
    main()
