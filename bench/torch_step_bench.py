#!/usr/bin/python3
# bench/torch_step_bench.py
#
# The PyTorch side of the training-step benchmark: time per image of one training step
# (train-mode forward, v8 detection loss on random targets, backward, SGD step) of yolov8n
# (nc=80) built by the independent reference in tests/reference/yolo_reference.py, on the
# CPU with 2 threads, batch 16, imgsz 320 and 640. shrike's step is compared with these
# numbers (bench/RESULTS.md). A few warm-up steps, then the median of N timed steps.
#
#   /usr/bin/python3 bench/torch_step_bench.py [--quick] [--imgsz 320 640] [--batch 16]
# Peak memory is the process's ru_maxrss (a high-water mark over the whole run, so the
# 640 figure includes whatever the 320 run reached first).
import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "reference"))
import yolo_reference as yr  # noqa: E402


def random_targets(batch, boxes_per_image, nc, generator):
    """(M, 6) [image, class, cx, cy, w, h] normalised, boxes 2%..50% of the image side."""
    n = batch * boxes_per_image
    img = torch.arange(batch).repeat_interleave(boxes_per_image).float()
    cls = torch.randint(0, nc, (n,), generator=generator).float()
    wh = torch.rand(n, 2, generator=generator) * 0.48 + 0.02
    cxy = wh / 2 + torch.rand(n, 2, generator=generator) * (1 - wh)
    return torch.cat((img[:, None], cls[:, None], cxy, wh), 1)


def time_steps(imgsz, batch, warmup, steps):
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    model = yr.DetectionModel("yolov8n.yaml", nc=80).train()
    for p in model.model[-1].dfl.parameters():
        p.requires_grad_(False)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01, momentum=0.937, nesterov=True)
    loss_fn = yr.V8DetectionLoss(80)
    images = torch.rand(batch, 3, imgsz, imgsz, generator=g)
    targets = random_targets(batch, 8, 80, g)
    times = []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        total, _, _ = loss_fn(model(images), targets)
        total.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=10.0)
        opt.step()
        opt.zero_grad()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="1 warm-up step, 3 timed steps")
    ap.add_argument("--imgsz", type=int, nargs="+", default=[320, 640])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    warmup, steps = (1, 3) if args.quick else (2, 7)
    print(f"torch {torch.__version__}, {args.threads} threads, yolov8n nc=80, batch {args.batch}, "
          f"{warmup} warm-up + median of {steps} steps (forward + v8 loss + backward + clip + SGD)")
    for imgsz in args.imgsz:
        t = time_steps(imgsz, args.batch, warmup, steps)
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"imgsz {imgsz}: {t:.2f} s/step, {1000 * t / args.batch:.1f} ms/image, "
              f"{args.batch / t:.2f} images/s, peak RSS {peak_mb:.0f} MB", flush=True)


if __name__ == "__main__":
    main()
