#!/usr/bin/python3
# tests/reference/make_loss_fixture.py
#
# Writes tests/reference/fixtures/loss_v8.h5, the PyTorch side of the v8 detection
# loss parity test (tests/unit/test_detect_loss.cpp): random raw head maps for the
# three levels, a target list with one background image, and from the independent
# reference loss in yolo_reference.py (V8DetectionLoss, not shrike's code) the loss
# items, the differentiated total and d(total)/d(head maps) by autograd.
#
#   /p3 /p4 /p5            float32 (B, 64+nc, h, w) head maps, strides 8, 16, 32
#   /targets               float32 (M, 6) [image_index, class, cx, cy, w, h] normalised
#   /loss                  float32 (3) [box, cls, dfl], gains applied (as logged)
#   /loss_total            float32 scalar, (box + cls + dfl) * B
#   /grad_p3 /grad_p4 /grad_p5   float32, d(loss_total)/d(p3..p5)
#   attributes nc, imgsz, batch, seed
#
# The seed is accepted only if the assignment is robust: the float64 run assigns the
# same foreground anchors to the same GTs as the float32 one, and no GT leaves top-k
# slots to anchors with align 0 that are candidates (torch.topk's tie order there is
# unspecified). Run: /usr/bin/python3 tests/reference/make_loss_fixture.py [--seed S]
import argparse
import sys
from pathlib import Path

import h5py
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from yolo_reference import REG_MAX, V8DetectionLoss  # noqa: E402

BATCH, IMGSZ, NC, TOPK = 3, 128, 4, 10
STRIDES = (8, 16, 32)
OUT = Path(__file__).resolve().parent / "fixtures" / "loss_v8.h5"


def make_maps(gen):
    """Head maps like an early-training head: box logits N(0, 1.5), class logits N(-3, 1.5)."""
    maps = []
    for s in STRIDES:
        n = IMGSZ // s
        box = torch.randn(BATCH, 4 * REG_MAX, n, n, generator=gen) * 1.5
        cls = torch.randn(BATCH, NC, n, n, generator=gen) * 1.5 - 3.0
        maps.append(torch.cat((box, cls), 1))
    return maps


def make_targets(gen):
    """Image 0: 3 boxes, image 1: none (background), image 2: 5 boxes, two overlapping
    heavily (exercises the conflict rule) and one small (a few candidate anchors)."""
    rows = []
    for img, count in ((0, 3), (2, 3)):
        for _ in range(count):
            wh = torch.rand(2, generator=gen) * 0.5 + 0.15
            c = torch.rand(2, generator=gen) * (1 - wh) + wh / 2
            rows.append([img, int(torch.randint(NC, (1,), generator=gen)), c[0], c[1], wh[0], wh[1]])
    rows.append([2, 1, 0.50, 0.50, 0.60, 0.55])
    rows.append([2, 3, 0.55, 0.52, 0.50, 0.60])
    rows.append([2, 0, 0.20, 0.80, 0.09, 0.10])
    return torch.tensor([[float(v) for v in r] for r in rows], dtype=torch.float32)


def run_loss(maps, targets, dtype):
    leaves = [m.to(dtype).clone().requires_grad_(True) for m in maps]
    total, items, asg = V8DetectionLoss(NC, topk=TOPK)(leaves, targets.to(dtype))
    total.backward()
    return total.detach(), items, asg, [m.grad for m in leaves]


def tie_free(asg):
    """No valid GT has fewer than TOPK anchors with align > 0 while having candidate
    anchors with align == 0 (those would fill top-k slots in an unspecified order)."""
    align, in_gts = asg["align"], asg["in_gts"]
    if align is None:
        return True
    positive = (align > 0).sum(-1)
    zero_candidates = (in_gts & (align == 0)).sum(-1)
    return not bool(((positive < TOPK) & (zero_candidates > 0) & in_gts.any(-1)).any())


def main():
    parser = argparse.ArgumentParser(description="Write the v8 detection loss fixture (loss_v8.h5).")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for seed in range(args.seed, args.seed + 1000):
        gen = torch.Generator().manual_seed(seed)
        maps, targets = make_maps(gen), make_targets(gen)
        total, items, asg, grads = run_loss(maps, targets, torch.float32)
        _, items64, asg64, _ = run_loss(maps, targets, torch.float64)
        same_fg = torch.equal(asg["fg_mask"], asg64["fg_mask"])
        same_gt = torch.equal(asg["target_gt_idx"][asg["fg_mask"]], asg64["target_gt_idx"][asg64["fg_mask"]])
        if same_fg and same_gt and tie_free(asg) and tie_free(asg64):
            break
        print(f"seed {seed}: assignment not robust (fp32 == fp64: {same_fg and same_gt}), trying the next")
    else:
        sys.exit("no robust seed found in 1000 tries")

    fg = asg["fg_mask"]
    multi = (asg["overlaps"] > 0).sum(1)[fg] if asg["overlaps"] is not None else torch.zeros(0)
    print(f"seed {seed}: loss items {items.tolist()} (fp64 {items64.tolist()}), total {float(total):.6f}")
    print(f"  foreground anchors per image {fg.sum(1).tolist()}; "
          f"foreground anchors inside more than one GT: {int((multi > 1).sum())}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(OUT, "w") as f:
        for name, m, g in zip(("p3", "p4", "p5"), maps, grads):
            f[name] = m.numpy().astype(np.float32)
            f["grad_" + name] = g.numpy().astype(np.float32)
        f["targets"] = targets.numpy()
        f["loss"] = items.numpy().astype(np.float32)
        f["loss_total"] = np.float32(total)
        f.attrs.update(nc=NC, imgsz=IMGSZ, batch=BATCH, seed=seed)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
