#!/usr/bin/python3
# tests/reference/metrics_reference.py
#
# Writes tests/reference/fixtures/metrics_cases.h5, the independent side of
# tests/unit/test_detection_metrics.cpp: validation metrics, validation NMS and the
# Detect inference decode, each computed here in numpy / torch from the reference's
# formulas (Ultralytics 8.3: utils/metrics.py ap_per_class / compute_ap / smooth,
# engine/validator.py match_predictions, models/yolo/detect/val.py, utils/ops.py
# non_max_suppression, nn/modules/head.py Detect._inference), not from shrike's code.
#
#   /iouv                          float32 (10) torch.linspace(0.5, 0.95, 10)
#   /metrics/case<k>/detections    float32 (N, 6) [x1, y1, x2, y2, score, cls], original pixels,
#                                  per image in decreasing score (NMS) order
#   /metrics/case<k>/detection_image int32 (N) image index of each detection
#   /metrics/case<k>/labels        float32 (M, 5) [x1, y1, x2, y2, cls]
#   /metrics/case<k>/label_image   int32 (M)
#   /metrics/case<k>/tp            uint8 (N, 10) expected true positives per threshold
#   /metrics/case<k>/ap_classes    int32 (k) classes with labels (empty when no TP at all)
#   /metrics/case<k>/ap            float64 (k, 10); precision, recall float64 (k)
#       attributes: nc, num_images, mp, mr, map50, map50_95, fitness
#   /nms/case<k>/predictions       float32 (A, 4 + nc) [cx, cy, w, h, scores] one image
#   /nms/case<k>/kept              float32 (K, 6) [x1, y1, x2, y2, score, cls]
#       attributes: nc, conf_thres, iou_thres, max_det, max_nms
#   /nms_greedy/boxes (n, 4) xyxy, /nms_greedy/scores (n), /nms_greedy/keep int32; attribute iou_thres
#   /decode/p3 /p4 /p5             float32 (B, 64 + nc, h, w) head maps (strides 8, 16, 32)
#   /decode/expected               float32 (B, 4 + nc, A) the reference layout (torch float32)
#   /decode/expected_f64           float64 (B, 4 + nc, A) the same maps decoded in float64
#       attributes: nc, reg_max
#
# Every metrics case is accepted only when the max-F1 pick is robust: every grid
# point whose smoothed mean F1 is within 1e-12 of the maximum has the same P and R
# (else summation-order noise could move numpy's argmax). Run:
#   /usr/bin/python3 tests/reference/metrics_reference.py
from pathlib import Path

import h5py
import numpy as np
import torch

OUT = Path(__file__).resolve().parent / "fixtures" / "metrics_cases.h5"
IOUV = torch.linspace(0.5, 0.95, 10)  # float32, as DetectionValidator.iouv
EPS = 1e-16


# --- per-image matching (DetectionValidator._process_batch + match_predictions) ---

def iou_labels_by_dets(labels_xyxy, dets_xyxy):
    """torch box_iou(labels, detections) in float32, eps 1e-7: (M, N)."""
    a = torch.from_numpy(labels_xyxy.astype(np.float32))[:, None, :]
    b = torch.from_numpy(dets_xyxy.astype(np.float32))[None, :, :]
    lt = torch.maximum(a[..., :2], b[..., :2])
    rb = torch.minimum(a[..., 2:], b[..., 2:])
    inter = (rb - lt).clamp(0).prod(2)
    area_a = (a[..., 2:] - a[..., :2]).prod(2)
    area_b = (b[..., 2:] - b[..., :2]).prod(2)
    return (inter / (area_a + area_b - inter + 1e-7)).numpy()


def true_positives(dets, labels):
    """(N, 10) bool: greedy non-scipy matching of one image."""
    tp = np.zeros((len(dets), 10), dtype=bool)
    if len(dets) == 0 or len(labels) == 0:
        return tp
    iou = iou_labels_by_dets(labels[:, :4], dets[:, :4])
    iou = iou * (labels[:, 4][:, None] == dets[:, 5][None, :])
    for t, thr in enumerate(IOUV.tolist()):
        pairs = np.array(np.nonzero(iou >= thr)).T  # (label, det), row-major
        if len(pairs) > 1:
            pairs = pairs[iou[pairs[:, 0], pairs[:, 1]].argsort()[::-1]]  # best IoU first
            pairs = pairs[np.unique(pairs[:, 1], return_index=True)[1]]   # one per detection
            pairs = pairs[np.unique(pairs[:, 0], return_index=True)[1]]   # one per label
        tp[pairs[:, 1].astype(int), t] = True
    return tp


# --- dataset-level curves (ap_per_class, compute_ap, smooth) ---

def average_precision(recall, precision):
    """101-point interpolated AP: sentinels, precision envelope, trapezoid."""
    r = np.concatenate(([0.0], recall, [1.0]))
    p = np.concatenate(([1.0], precision, [0.0]))
    p = np.maximum.accumulate(p[::-1])[::-1]
    grid = np.linspace(0, 1, 101)
    return np.trapz(np.interp(grid, r, p), grid)


def box_smooth(y, fraction):
    taps = round(len(y) * fraction * 2) // 2 + 1
    pad = np.ones(taps // 2)
    padded = np.concatenate((pad * y[0], y, pad * y[-1]))
    return np.convolve(padded, np.ones(taps) / taps, mode="valid")


def dataset_metrics(tp, conf, pred_cls, target_cls):
    """Per-class AP (k, 10), P, R at the max smoothed mean F1, and the means."""
    order = np.argsort(-conf, kind="stable")
    tp, conf, pred_cls = tp[order], conf[order], pred_cls[order]
    classes, n_labels = np.unique(target_cls, return_counts=True)
    grid = np.linspace(0, 1, 1000)
    ap = np.zeros((len(classes), 10))
    p_curve = np.zeros((len(classes), 1000))
    r_curve = np.zeros((len(classes), 1000))
    for ci, c in enumerate(classes):
        mine = pred_cls == c
        if mine.sum() == 0:
            continue
        tps = tp[mine].cumsum(0)
        fps = (1 - tp[mine]).cumsum(0)
        recall = tps / (n_labels[ci] + EPS)
        precision = tps / (tps + fps)
        r_curve[ci] = np.interp(-grid, -conf[mine], recall[:, 0], left=0)
        p_curve[ci] = np.interp(-grid, -conf[mine], precision[:, 0], left=1)
        for t in range(10):
            ap[ci, t] = average_precision(recall[:, t], precision[:, t])
    f1 = 2 * p_curve * r_curve / (p_curve + r_curve + EPS)
    smoothed = box_smooth(f1.mean(0), 0.1)
    best = smoothed.argmax()
    near = np.nonzero(smoothed >= smoothed[best] - 1e-12)[0]
    robust = all(np.allclose(p_curve[:, j], p_curve[:, best], atol=1e-9, rtol=0)
                 and np.allclose(r_curve[:, j], r_curve[:, best], atol=1e-9, rtol=0) for j in near)
    p, r = p_curve[:, best], r_curve[:, best]
    means = dict(mp=p.mean(), mr=r.mean(), map50=ap[:, 0].mean(), map50_95=ap.mean())
    means["fitness"] = (np.array([means["mp"], means["mr"], means["map50"], means["map50_95"]])
                        * np.array([0.0, 0.0, 0.1, 0.9])).sum()
    return classes.astype(np.int32), ap, p, r, means, robust


# --- random validation sets ---

def jitter(box, rng, amount):
    w, h = box[2] - box[0], box[3] - box[1]
    d = rng.normal(0, amount, 4) * np.array([w, h, w, h])
    return box + d


def random_image(rng, nc, label_classes, ghost_class, kind):
    """One image's labels (M, 5) and detections (N, 6), detections in score order."""
    W, H = 640.0, 480.0
    labels, dets = [], []
    n_labels = 0 if kind in ("empty", "background") else int(rng.integers(1, 6))
    for _ in range(n_labels):
        w, h = rng.uniform(20, 250), rng.uniform(20, 200)
        x, y = rng.uniform(0, W - w), rng.uniform(0, H - h)
        c = int(rng.choice(label_classes))
        labels.append([x, y, x + w, y + h, c])
        if kind == "missed":
            continue
        for _ in range(int(rng.choice([0, 1, 1, 1, 2]))):
            box = jitter(np.array([x, y, x + w, y + h]), rng, rng.choice([0.02, 0.08, 0.2]))
            cls = c if rng.random() < 0.8 else int(rng.integers(0, nc))
            if cls == label_classes[-1]:  # the last labelled class is never predicted
                cls = c if c != label_classes[-1] else ghost_class
            dets.append([*box, rng.uniform(0.2, 1.0), cls])
    if kind != "empty":
        for _ in range(int(rng.integers(0, 4))):  # false positives, some of the ghost class
            w, h = rng.uniform(10, 150), rng.uniform(10, 150)
            x, y = rng.uniform(0, W - w), rng.uniform(0, H - h)
            cls = ghost_class if rng.random() < 0.3 else int(rng.choice(label_classes[:-1]))
            dets.append([x, y, x + w, y + h, rng.uniform(0.001, 0.7), cls])
    labels = np.array(labels, dtype=np.float32).reshape(-1, 5)
    dets = np.array(dets, dtype=np.float32).reshape(-1, 6)
    dets[:, :4] = np.clip(dets[:, :4], 0, [W, H, W, H])
    return labels, dets[np.argsort(-dets[:, 4], kind="stable")]


def make_metrics_case(seed, nc, num_images):
    rng = np.random.default_rng(seed)
    ghost = nc - 1                       # predicted, never labelled
    label_classes = list(range(nc - 1))  # the last of these is labelled, never predicted
    kinds = ["normal"] * num_images
    kinds[1], kinds[2], kinds[3] = "empty", "background", "missed"
    images = [random_image(rng, nc, label_classes, ghost, k) for k in kinds]
    tp, conf, pred_cls, target_cls = [], [], [], []
    for labels, dets in images:
        tp.append(true_positives(dets, labels))
        conf.append(dets[:, 4])
        pred_cls.append(dets[:, 5])
        target_cls.append(labels[:, 4])
    tp, conf = np.concatenate(tp), np.concatenate(conf)
    pred_cls, target_cls = np.concatenate(pred_cls), np.concatenate(target_cls)
    if tp.any():
        classes, ap, p, r, means, robust = dataset_metrics(tp, conf, pred_cls, target_cls)
    else:  # the validator skips metrics.process: everything 0
        classes, ap, p, r = np.zeros(0, np.int32), np.zeros((0, 10)), np.zeros(0), np.zeros(0)
        means, robust = dict(mp=0.0, mr=0.0, map50=0.0, map50_95=0.0, fitness=0.0), True
    return dict(images=images, tp=tp, classes=classes, ap=ap, p=p, r=r, means=means, robust=robust,
                nc=nc, num_images=num_images)


def write_metrics_case(group, case):
    dets = np.concatenate([d for _, d in case["images"]])
    labels = np.concatenate([lb for lb, _ in case["images"]])
    group["detections"] = dets.astype(np.float32).reshape(-1, 6)
    group["detection_image"] = np.concatenate(
        [np.full(len(d), i, np.int32) for i, (_, d) in enumerate(case["images"])])
    group["labels"] = labels.astype(np.float32).reshape(-1, 5)
    group["label_image"] = np.concatenate(
        [np.full(len(lb), i, np.int32) for i, (lb, _) in enumerate(case["images"])])
    group["tp"] = case["tp"].astype(np.uint8).reshape(-1, 10)
    group["ap_classes"] = case["classes"]
    group["ap"] = case["ap"].reshape(-1, 10)
    group["precision"] = case["p"]
    group["recall"] = case["r"]
    group.attrs["nc"] = case["nc"]
    group.attrs["num_images"] = case["num_images"]
    for k, v in case["means"].items():
        group.attrs[k] = float(v)


# --- NMS (pure numpy greedy, torchvision semantics) ---

def greedy_nms(boxes, scores, iou_thres):
    """Kept indices, by decreasing score (stable); IoU in float32, strict > iou_thres."""
    boxes = boxes.astype(np.float32)
    order = np.argsort(-scores, kind="stable")
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    suppressed = np.zeros(len(boxes), bool)
    keep = []
    for oi, i in enumerate(order):
        if suppressed[i]:
            continue
        keep.append(i)
        for j in order[oi + 1:]:
            if suppressed[j]:
                continue
            w = max(np.float32(0), min(boxes[i, 2], boxes[j, 2]) - max(boxes[i, 0], boxes[j, 0]))
            h = max(np.float32(0), min(boxes[i, 3], boxes[j, 3]) - max(boxes[i, 1], boxes[j, 1]))
            inter = np.float32(w * h)
            if float(inter / (area[i] + area[j] - inter)) > iou_thres:
                suppressed[j] = True
    return np.array(keep, dtype=np.int32)


def validation_nms(pred, nc, conf_thres, iou_thres, max_det, max_nms, max_wh=7680.0):
    """ops.non_max_suppression(multi_label=True) for one image: pred (A, 4 + nc) xywh."""
    xy, half = pred[:, :2], pred[:, 2:4] / np.float32(2)
    boxes = np.concatenate((xy - half, xy + half), 1).astype(np.float32)
    scores = pred[:, 4:]
    if nc > 1:
        anchor, cls = np.nonzero(scores > np.float32(conf_thres))  # row-major
    else:
        anchor = np.nonzero(scores[:, 0] > np.float32(conf_thres))[0]
        cls = np.zeros(len(anchor), np.int64)
    cand = np.concatenate((boxes[anchor], scores[anchor, cls][:, None], cls[:, None].astype(np.float32)), 1)
    if len(cand) > max_nms:
        cand = cand[np.argsort(-cand[:, 4], kind="stable")[:max_nms]]
    offset = (cand[:, 5:6] * np.float32(max_wh)).astype(np.float32)
    keep = greedy_nms(cand[:, :4] + offset, cand[:, 4], iou_thres)[:max_det]
    return cand[keep].astype(np.float32).reshape(-1, 6)


def make_nms_predictions(rng, num_anchors, nc):
    """Clustered boxes (so suppression happens) with scores spread over classes."""
    centres = rng.uniform(50, 590, (6, 2))
    pick = rng.integers(0, len(centres), num_anchors)
    xy = centres[pick] + rng.normal(0, 6, (num_anchors, 2))
    wh = rng.uniform(40, 80, (num_anchors, 2))
    scores = rng.uniform(0, 1, (num_anchors, nc)) ** 3
    return np.concatenate((xy, wh, scores), 1).astype(np.float32)


# --- Detect inference decode (Detect._inference) ---

def detect_decode(maps, nc, reg_max=16, strides=(8, 16, 32)):
    """(B, 4 + nc, A): DFL expectation, dist2bbox(xywh=True) around cell centres, * stride."""
    b = maps[0].shape[0]
    x_cat = torch.cat([m.view(b, 4 * reg_max + nc, -1) for m in maps], 2)
    anchors, stride_per_anchor = [], []
    for m, s in zip(maps, strides):
        h, w = m.shape[2:]
        sy, sx = torch.meshgrid(torch.arange(h, dtype=m.dtype) + 0.5, torch.arange(w, dtype=m.dtype) + 0.5,
                                indexing="ij")
        anchors.append(torch.stack((sx, sy), -1).view(-1, 2))
        stride_per_anchor.append(torch.full((h * w, 1), s, dtype=m.dtype))
    anchors = torch.cat(anchors).T  # (2, A)
    strides_t = torch.cat(stride_per_anchor).T  # (1, A)
    box, cls = x_cat.split((4 * reg_max, nc), 1)
    a = box.shape[2]
    prob = box.view(b, 4, reg_max, a).transpose(2, 1).softmax(1)  # (b, reg_max, 4, a)
    bins = torch.arange(reg_max, dtype=box.dtype).view(1, reg_max, 1, 1)
    dist = (prob * bins).sum(1)  # (b, 4, a)
    lt, rb = dist.chunk(2, 1)
    x1y1, x2y2 = anchors[None] - lt, anchors[None] + rb
    xywh = torch.cat(((x1y1 + x2y2) / 2, x2y2 - x1y1), 1) * strides_t
    return torch.cat((xywh, cls.sigmoid()), 1)


def write_decode(group, seed):
    gen = torch.Generator().manual_seed(seed)
    nc, batch, imgsz = 3, 2, 64
    maps = []
    for s in (8, 16, 32):
        n = imgsz // s
        box = torch.randn(batch, 64, n, n, generator=gen) * 2.0
        cls = torch.randn(batch, nc, n, n, generator=gen) * 2.0 - 1.0
        maps.append(torch.cat((box, cls), 1))
    for name, m in zip(("p3", "p4", "p5"), maps):
        group[name] = m.numpy()
    group["expected"] = detect_decode(maps, nc).numpy()
    group["expected_f64"] = detect_decode([m.double() for m in maps], nc).numpy()
    group.attrs["nc"], group.attrs["reg_max"] = nc, 16


def main():
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(OUT, "w") as f:
        f["iouv"] = IOUV.numpy()
        written, seed = 0, 100
        for nc, num_images in ((5, 12), (6, 25), (4, 8), (8, 40), (5, 6)):
            while True:
                case = make_metrics_case(seed, nc, num_images)
                seed += 1
                if case["robust"] and case["tp"].any():
                    break
            write_metrics_case(f.create_group(f"metrics/case{written}"), case)
            print(f"metrics case{written}: seed {seed - 1}, {len(case['tp'])} detections, "
                  f"mAP50 {case['means']['map50']:.4f} mAP50-95 {case['means']['map50_95']:.4f}")
            written += 1
        rng = np.random.default_rng(7)
        for k, (anchors, nc, max_det, max_nms) in enumerate(((150, 3, 300, 30000), (400, 4, 10, 60), (80, 1, 300, 30000))):
            pred = make_nms_predictions(rng, anchors, nc)
            g = f.create_group(f"nms/case{k}")
            g["predictions"] = pred
            g["kept"] = validation_nms(pred, nc, 0.001, 0.7, max_det, max_nms)
            g.attrs.update(dict(nc=nc, conf_thres=0.001, iou_thres=0.7, max_det=max_det, max_nms=max_nms))
            print(f"nms case{k}: {anchors} anchors, nc {nc} -> {len(g['kept'])} kept")
        pred = make_nms_predictions(rng, 120, 1)
        boxes = np.concatenate((pred[:, :2] - pred[:, 2:4] / 2, pred[:, :2] + pred[:, 2:4] / 2), 1)
        g = f.create_group("nms_greedy")
        g["boxes"], g["scores"] = boxes.astype(np.float32), pred[:, 4].copy()
        g["keep"] = greedy_nms(boxes, pred[:, 4], 0.5)
        g.attrs["iou_thres"] = 0.5
        write_decode(f.create_group("decode"), seed=11)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
