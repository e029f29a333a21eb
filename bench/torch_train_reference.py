#!/usr/bin/python3
# bench/torch_train_reference.py
#
# The PyTorch side of the issue-4 training comparison (bench/train-compare.sh): trains the
# independent reference model of tests/reference/yolo_reference.py (DetectionModel +
# V8DetectionLoss) from a shrike shard folder, with the settings of a shrike run made with
#   optimizer=SGD lr0=0.01 batch=16 mosaic=0 hsv_h=0 hsv_s=0 hsv_v=0 translate=0 scale=0
# so that accuracy at equal epochs and wall time per epoch can be set side by side.
#
# What it follows (Ultralytics 8.3 trainer, as tests/reference/schedule_reference.py does):
#   data:   each stored image (long side = imgsz already) letterboxed into imgsz x imgsz,
#           pad 114, centred (top = round(dh - 0.1), bottom = round(dh + 0.1), same for
#           left/right); identity affine, so only RandomPerspective's clip + box_candidates
#           (w, h > 2 px) act; horizontal flip p = 0.5; HSV off; shuffled every epoch;
#           the last partial batch is kept (drop_last False).
#   optim:  SGD, Nesterov, momentum 0.937; groups pg0 biases (no decay), pg1 conv/linear
#           weights (decay 5e-4 * batch * accumulate / nbs), pg2 BN weights (no decay);
#           accumulate = max(round(nbs / batch), 1); warmup over max(round(3 * nb), 100)
#           iterations (bias lr 0.1 -> lr, others 0 -> lr, momentum 0.8 -> 0.937,
#           accumulate 1 -> nbs / batch); linear schedule lf = (1 - x/E)(1 - lrf) + lrf,
#           scheduler.step() at each epoch start (as schedule_reference.replay).
#   step:   loss = (box + cls + dfl) * B; backward; when ni - last_opt_step >= accumulate:
#           clip_grad_norm_ 10, step, zero_grad, EMA update (decay 0.9999 (1 - e^(-u/2000))).
#   init:   PyTorch default init + the reference Detect bias init; seed fixed.
# After every epoch the EMA weights go to OUT/weights/epoch<N>.h5 in shrike's weights format
# (HDF5 /model/<state-dict name>, attributes nc, names, model_yaml, imgsz, stride), so that
# `shrike val` measures both runs with the same code. With --shrike BIN it also runs
# `BIN val ... --json` on those weights (every --val-every epochs and the last) and logs the
# metrics. OUT/results.csv: epoch, train_s (the epoch's training loop: loading, forward,
# backward, steps, EMA), save_s, val_s, epoch_s (all three), losses, lrs, mAP50, mAP50-95.
#
#   /usr/bin/python3 bench/torch_train_reference.py --data SHARDS --epochs 30 --out DIR \
#       [--shrike build/bin/shrike] [--val-every 1] [--threads 2] [--seed 0]
import argparse
import csv
import json
import math
import subprocess
import sys
import time
import warnings
from copy import deepcopy
from pathlib import Path

import h5py
import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "reference"))
import yolo_reference as yr  # noqa: E402


# ----------------------------------------------------------------------------- data
def split_files(shards, split):
    """Shard files of `split` from DIR/manifest.json (val may say same_as: train)."""
    manifest = json.loads((shards / "manifest.json").read_text())
    entry = manifest["splits"][split]
    if isinstance(entry, dict) and "same_as" in entry:
        entry = manifest["splits"][entry["same_as"]]
    elif isinstance(entry, str):  # tolerate a bare "train"
        entry = manifest["splits"][entry]
    return [shards / s["file"] for s in entry["shards"]], manifest


def load_split(files):
    """All samples in memory: list of (HxWx3 uint8 RGB, classes (n,), boxes (n, 4) cx cy w h 0..1)."""
    samples = []
    for path in files:
        with h5py.File(path, "r") as f:
            if f.attrs.get("encoding", "raw") not in ("raw", b"raw"):
                sys.exit(f"error: {path}: encoding {f.attrs['encoding']!r}; this loop reads raw shards only "
                         "(re-shard with --encoding raw)")
            data, offsets, shapes = f["images/data"][:], f["images/offsets"][:], f["images/shape"][:]
            boxes, classes, loff = f["labels/boxes"][:], f["labels/classes"][:], f["labels/offsets"][:]
            for i in range(len(shapes)):
                h, w, c = (int(x) for x in shapes[i])
                image = data[offsets[i]:offsets[i + 1]].reshape(h, w, c)
                samples.append((image, classes[loff[i]:loff[i + 1]].copy(), boxes[loff[i]:loff[i + 1]].copy()))
    return samples


def letterbox(image, s):
    """Stored image (long side <= s) -> (s, s, 3) with pad 114 centred; returns image, left, top, ratio."""
    h, w = image.shape[:2]
    r = min(s / h, s / w)
    if r != 1.0:  # not expected for shards made at this imgsz; nearest is enough to not crash
        nh, nw = round(h * r), round(w * r)
        ys = np.minimum((np.arange(nh) / r).astype(int), h - 1)
        xs = np.minimum((np.arange(nw) / r).astype(int), w - 1)
        image, h, w = image[ys][:, xs], nh, nw
    dw, dh = (s - w) / 2, (s - h) / 2
    top, left = round(dh - 0.1), round(dw - 0.1)
    out = np.full((s, s, 3), 114, dtype=np.uint8)
    out[top:top + h, left:left + w] = image
    return out, left, top, r


def make_sample(sample, s, rng):
    """Letterbox, clip + box_candidates (identity affine), flip lr p=0.5. -> image, (n, 5) [cls, cx, cy, w, h] 0..1."""
    image, classes, boxes = sample
    h, w = image.shape[:2]
    out, left, top, r = letterbox(image, s)
    hs, ws = round(h * r), round(w * r)
    xyxy = np.empty((len(boxes), 4), dtype=np.float32)
    xyxy[:, 0] = (boxes[:, 0] - boxes[:, 2] / 2) * ws + left
    xyxy[:, 1] = (boxes[:, 1] - boxes[:, 3] / 2) * hs + top
    xyxy[:, 2] = (boxes[:, 0] + boxes[:, 2] / 2) * ws + left
    xyxy[:, 3] = (boxes[:, 1] + boxes[:, 3] / 2) * hs + top
    before = xyxy.copy()
    xyxy[:, [0, 2]] = xyxy[:, [0, 2]].clip(0, s)
    xyxy[:, [1, 3]] = xyxy[:, [1, 3]].clip(0, s)
    w1, h1 = before[:, 2] - before[:, 0], before[:, 3] - before[:, 1]
    w2, h2 = xyxy[:, 2] - xyxy[:, 0], xyxy[:, 3] - xyxy[:, 1]
    ar = np.maximum(w2 / (h2 + 1e-16), h2 / (w2 + 1e-16))
    keep = (w2 > 2) & (h2 > 2) & (w2 * h2 / (w1 * h1 + 1e-16) > 0.1) & (ar < 100)
    xyxy, cls = xyxy[keep], classes[keep].astype(np.float32)
    if rng.random() < 0.5:  # fliplr
        out = out[:, ::-1]
        xyxy[:, [0, 2]] = s - xyxy[:, [2, 0]]
    labels = np.stack((cls, (xyxy[:, 0] + xyxy[:, 2]) / 2 / s, (xyxy[:, 1] + xyxy[:, 3]) / 2 / s,
                       (xyxy[:, 2] - xyxy[:, 0]) / s, (xyxy[:, 3] - xyxy[:, 1]) / s), 1) if len(cls) else \
        np.zeros((0, 5), np.float32)
    return np.ascontiguousarray(out), labels


def make_batch(samples, indices, s, rng):
    """-> images (B, 3, s, s) float 0..1, targets (M, 6) [img, cls, cx, cy, w, h]."""
    images, targets = [], []
    for j, k in enumerate(indices):
        im, lab = make_sample(samples[k], s, rng)
        images.append(im)
        if len(lab):
            targets.append(np.concatenate((np.full((len(lab), 1), j, np.float32), lab), 1))
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float().div_(255.0)
    t = torch.from_numpy(np.concatenate(targets)) if targets else torch.zeros(0, 6)
    return x, t


# ----------------------------------------------------------------------------- training pieces
class ModelEMA:
    """Ultralytics ModelEMA: decay 0.9999 (1 - exp(-updates / 2000)), floating-point state only."""

    def __init__(self, model, decay=0.9999, tau=2000):
        self.ema = deepcopy(model).eval()
        for p in self.ema.parameters():
            p.requires_grad_(False)
        self.updates, self.decay = 0, lambda x: decay * (1 - math.exp(-x / tau))

    @torch.no_grad()
    def update(self, model):
        self.updates += 1
        d = self.decay(self.updates)
        msd = model.state_dict()
        for k, v in self.ema.state_dict().items():
            if v.dtype.is_floating_point:
                v *= d
                v += (1 - d) * msd[k].detach()


def build_optimizer(model, lr, momentum, decay):
    """Ultralytics build_optimizer for name SGD: pg0 biases, pg1 decayed weights, pg2 BN weights."""
    g_decay, g_bn, g_bias = [], [], []
    bn = tuple(v for k, v in nn.__dict__.items() if "Norm" in k)
    for module_name, module in model.named_modules():
        for param_name, param in module.named_parameters(recurse=False):
            if "bias" in param_name:
                g_bias.append(param)
            elif isinstance(module, bn):
                g_bn.append(param)
            else:
                g_decay.append(param)
    opt = torch.optim.SGD(g_bias, lr=lr, momentum=momentum, nesterov=True)
    opt.add_param_group({"params": g_decay, "weight_decay": decay})
    opt.add_param_group({"params": g_bn, "weight_decay": 0.0})
    return opt


def save_weights(path, model, names, imgsz):
    """shrike weights file: /model/<name> float32 (num_batches_tracked int64) + attributes."""
    tmp = path.with_suffix(".tmp")
    with h5py.File(tmp, "w") as f:
        g = f.create_group("model")
        for k, v in model.state_dict().items():
            a = v.detach().cpu().numpy()
            g.create_dataset(k, data=a.astype(np.int64 if "num_batches_tracked" in k else np.float32))
        f.attrs["nc"] = np.int64(len(names))
        f.attrs["names"] = json.dumps(names)
        f.attrs["model_yaml"] = "yolov8n.yaml"
        f.attrs["imgsz"] = np.int64(imgsz)
        f.attrs["stride"] = "[8, 16, 32]"
    tmp.replace(path)


def shrike_val(shrike, weights, data, imgsz):
    r = subprocess.run([shrike, "val", str(weights), "--data", str(data), f"imgsz={imgsz}", "--json"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"error: {shrike} val {weights} failed ({r.returncode}):\n{r.stderr[-2000:]}")
    line = [ln for ln in r.stdout.splitlines() if ln.strip().startswith("{")][-1]
    return json.loads(line)


# ----------------------------------------------------------------------------- main loop
def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, required=True, help="shrike shard folder")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr0", type=float, default=0.01)
    ap.add_argument("--lrf", type=float, default=0.01)
    ap.add_argument("--momentum", type=float, default=0.937)
    ap.add_argument("--weight-decay", type=float, default=5e-4)
    ap.add_argument("--nbs", type=int, default=64)
    ap.add_argument("--warmup-epochs", type=float, default=3.0)
    ap.add_argument("--warmup-momentum", type=float, default=0.8)
    ap.add_argument("--warmup-bias-lr", type=float, default=0.1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--shrike", help="shrike binary: validate the saved EMA weights with `shrike val --json`")
    ap.add_argument("--val-every", type=int, default=1, help="validate every N epochs (and the last)")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    rng = np.random.default_rng(args.seed)

    files, manifest = split_files(args.data, "train")
    names = manifest["names"]
    samples = load_split(files)
    nc, n, s, batch = len(names), len(samples), args.imgsz, args.batch
    nb = math.ceil(n / batch)
    (args.out / "weights").mkdir(parents=True, exist_ok=True)

    model = yr.DetectionModel("yolov8n.yaml", nc=nc).train()
    for p in model.model[-1].dfl.parameters():  # Ultralytics freezes '.dfl'
        p.requires_grad_(False)
    ema = ModelEMA(model)
    loss_fn = yr.V8DetectionLoss(nc)
    accumulate = max(round(args.nbs / batch), 1)
    decay = args.weight_decay * batch * accumulate / args.nbs
    opt = build_optimizer(model, args.lr0, args.momentum, decay)
    epochs = args.epochs
    lf = lambda x: max(1 - x / epochs, 0) * (1.0 - args.lrf) + args.lrf  # noqa: E731
    scheduler = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda=lf)
    scheduler.last_epoch = -1
    nw = max(round(args.warmup_epochs * nb), 100) if args.warmup_epochs > 0 else -1
    last_opt_step = -1
    params = [p for p in model.parameters() if p.requires_grad]
    print(f"torch {torch.__version__}, {args.threads} threads; {n} train images, nc {nc}, {nb} batches/epoch, "
          f"accumulate {accumulate}, weight decay {decay:g}, warmup {nw} iterations", flush=True)

    out_csv = args.out / "results.csv"
    fields = ["epoch", "train_s", "save_s", "val_s", "epoch_s", "box_loss", "cls_loss", "dfl_loss",
              "lr_pg0", "lr_pg1", "lr_pg2", "mAP50", "mAP50-95"]
    with open(out_csv, "w", newline="") as fcsv:
        writer = csv.DictWriter(fcsv, fieldnames=fields)
        writer.writeheader()
        for epoch in range(epochs):
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                scheduler.step()
            model.train()
            order = torch.randperm(n, generator=torch.Generator().manual_seed(args.seed + epoch)).tolist()
            mloss = torch.zeros(3)
            opt.zero_grad()
            for i in range(nb):
                ni = i + nb * epoch
                if ni <= nw:
                    xi = [0, nw]
                    accumulate = max(1, int(np.interp(ni, xi, [1, args.nbs / batch]).round()))
                    for j, g in enumerate(opt.param_groups):
                        g["lr"] = np.interp(ni, xi, [args.warmup_bias_lr if j == 0 else 0.0,
                                                     g["initial_lr"] * lf(epoch)])
                        g["momentum"] = np.interp(ni, xi, [args.warmup_momentum, args.momentum])
                images, targets = make_batch(samples, order[i * batch:(i + 1) * batch], s, rng)
                total, items, _ = loss_fn(model(images), targets)
                total.backward()
                mloss = (mloss * i + items) / (i + 1)
                if ni - last_opt_step >= accumulate:
                    torch.nn.utils.clip_grad_norm_(params, max_norm=10.0)
                    opt.step()
                    opt.zero_grad()
                    ema.update(model)
                    last_opt_step = ni
            t1 = time.perf_counter()
            weights = args.out / "weights" / f"epoch{epoch + 1}.h5"
            save_weights(weights, ema.ema, names, s)
            t2 = time.perf_counter()
            m = {}
            last = epoch + 1 == epochs
            if args.shrike and ((epoch + 1) % args.val_every == 0 or last):
                m = shrike_val(args.shrike, weights, args.data, s)
            t3 = time.perf_counter()
            row = dict(epoch=epoch + 1, train_s=f"{t1 - t0:.3f}", save_s=f"{t2 - t1:.3f}", val_s=f"{t3 - t2:.3f}",
                       epoch_s=f"{t3 - t0:.3f}", box_loss=f"{mloss[0]:.5f}", cls_loss=f"{mloss[1]:.5f}",
                       dfl_loss=f"{mloss[2]:.5f}", lr_pg0=f"{opt.param_groups[0]['lr']:.6g}",
                       lr_pg1=f"{opt.param_groups[1]['lr']:.6g}", lr_pg2=f"{opt.param_groups[2]['lr']:.6g}",
                       mAP50=f"{m['mAP50']:.5f}" if m else "", **{"mAP50-95": f"{m['mAP50-95']:.5f}" if m else ""})
            writer.writerow(row)
            fcsv.flush()
            print(f"epoch {epoch + 1}/{epochs}: train {t1 - t0:.1f} s, val {t3 - t2:.1f} s, "
                  f"loss {mloss[0]:.3f} {mloss[1]:.3f} {mloss[2]:.3f}"
                  + (f", mAP50 {m['mAP50']:.4f} mAP50-95 {m['mAP50-95']:.4f}" if m else ""), flush=True)


if __name__ == "__main__":
    main()
