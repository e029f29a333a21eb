#!/usr/bin/python3
# tests/reference/yolo_reference.py
#
# An independent PyTorch implementation of the YOLOv8 / YOLO11 detection model and its
# training loss, written from shared/reference/yolov8-training-spec.md and checked against
# the public Ultralytics 8.2/8.3 source where the spec was unclear. It exists so that
# shrike's C++ engine is tested against something that is not shrike: make_fixtures.py
# uses it to write the parity fixtures, bench/torch_step_bench.py to time PyTorch.
#
# What it owns:
#   - the model YAML parser (scales, repeats rule, channel rule, C3k2 c3k forced at m/l/x);
#   - the modules, with attribute names equal to the Ultralytics ones so that state-dict
#     names match by construction (model.2.m.0.cv1.conv.weight, model.22.dfl.conv.weight);
#   - the v8 detection loss with the task-aligned assigner (8.2/8.3 behaviour: no
#     small-box enlargement for the candidate test, which 8.4 added);
#   - parameter / GFLOPs counting and a self-check: `/usr/bin/python3 yolo_reference.py --check`.
# Needs Debian's /usr/bin/python3 (python3-torch, python3-yaml).
import argparse
import math
import re
import sys
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
MODEL_DIR = REPO_ROOT / "configs" / "models"
REG_MAX = 16
STRIDES = (8, 16, 32)
BN_EPS, BN_MOMENTUM = 1e-3, 0.03  # Ultralytics initialize_weights()


# ----------------------------------------------------------------------------- modules
class Conv(nn.Module):
    """Conv2d (no bias) + BatchNorm2d + SiLU; names conv / bn as in Ultralytics Conv."""

    def __init__(self, c1, c2, k=1, s=1, p=None, g=1, d=1, act=True):
        super().__init__()
        p = k // 2 if p is None else p  # autopad for d == 1
        self.conv = nn.Conv2d(c1, c2, k, s, p, groups=g, dilation=d, bias=False)
        self.bn = nn.BatchNorm2d(c2, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.act = nn.SiLU() if act else nn.Identity()

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class DWConv(Conv):
    """Depthwise Conv: groups = gcd(c1, c2) (Ultralytics DWConv)."""

    def __init__(self, c1, c2, k=1, s=1, d=1, act=True):
        super().__init__(c1, c2, k, s, g=math.gcd(c1, c2), d=d, act=act)


class Bottleneck(nn.Module):
    def __init__(self, c1, c2, shortcut=True, g=1, k=(3, 3), e=0.5):
        super().__init__()
        c_ = int(c2 * e)
        self.cv1 = Conv(c1, c_, k[0], 1)
        self.cv2 = Conv(c_, c2, k[1], 1, g=g)
        self.add = shortcut and c1 == c2

    def forward(self, x):
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C2f(nn.Module):
    def __init__(self, c1, c2, n=1, shortcut=False, g=1, e=0.5):
        super().__init__()
        self.c = int(c2 * e)
        self.cv1 = Conv(c1, 2 * self.c, 1, 1)
        self.cv2 = Conv((2 + n) * self.c, c2, 1)
        self.m = nn.ModuleList(Bottleneck(self.c, self.c, shortcut, g, k=(3, 3), e=1.0) for _ in range(n))

    def forward(self, x):
        y = list(self.cv1(x).chunk(2, 1))
        for block in self.m:
            y.append(block(y[-1]))
        return self.cv2(torch.cat(y, 1))


class C3(nn.Module):
    def __init__(self, c1, c2, n=1, shortcut=True, g=1, e=0.5):
        super().__init__()
        c_ = int(c2 * e)
        self.cv1 = Conv(c1, c_, 1, 1)
        self.cv2 = Conv(c1, c_, 1, 1)
        self.cv3 = Conv(2 * c_, c2, 1)
        self.m = nn.Sequential(*(Bottleneck(c_, c_, shortcut, g, k=(1, 3), e=1.0) for _ in range(n)))

    def forward(self, x):
        return self.cv3(torch.cat((self.m(self.cv1(x)), self.cv2(x)), 1))


class C3k(C3):
    """C3 whose bottlenecks use k=(3,3), e=1.0."""

    def __init__(self, c1, c2, n=1, shortcut=True, g=1, e=0.5, k=3):
        super().__init__(c1, c2, n, shortcut, g, e)
        c_ = int(c2 * e)
        self.m = nn.Sequential(*(Bottleneck(c_, c_, shortcut, g, k=(k, k), e=1.0) for _ in range(n)))


class C3k2(C2f):
    """C2f with C3k (c3k) or Bottleneck(e=0.5) inner blocks; shortcut defaults to True."""

    def __init__(self, c1, c2, n=1, c3k=False, e=0.5, g=1, shortcut=True):
        super().__init__(c1, c2, n, shortcut, g, e)
        self.m = nn.ModuleList(
            C3k(self.c, self.c, 2, shortcut, g) if c3k else Bottleneck(self.c, self.c, shortcut, g)
            for _ in range(n)
        )


class SPPF(nn.Module):
    def __init__(self, c1, c2, k=5):
        super().__init__()
        c_ = c1 // 2
        self.cv1 = Conv(c1, c_, 1, 1)
        self.cv2 = Conv(c_ * 4, c2, 1, 1)
        self.m = nn.MaxPool2d(kernel_size=k, stride=1, padding=k // 2)

    def forward(self, x):
        y = [self.cv1(x)]
        for _ in range(3):
            y.append(self.m(y[-1]))
        return self.cv2(torch.cat(y, 1))


class Attention(nn.Module):
    def __init__(self, dim, num_heads=8, attn_ratio=0.5):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.key_dim = int(self.head_dim * attn_ratio)
        self.scale = self.key_dim**-0.5
        self.qkv = Conv(dim, dim + 2 * self.key_dim * num_heads, 1, act=False)
        self.proj = Conv(dim, dim, 1, act=False)
        self.pe = Conv(dim, dim, 3, 1, g=dim, act=False)

    def forward(self, x):  # x (B, C, H, W)
        B, C, H, W = x.shape
        N = H * W
        qkv = self.qkv(x).view(B, self.num_heads, 2 * self.key_dim + self.head_dim, N)
        q, k, v = qkv.split([self.key_dim, self.key_dim, self.head_dim], dim=2)
        attn = ((q.transpose(-2, -1) @ k) * self.scale).softmax(dim=-1)  # (B, heads, N, N)
        x = (v @ attn.transpose(-2, -1)).view(B, C, H, W) + self.pe(v.reshape(B, C, H, W))
        return self.proj(x)


class PSABlock(nn.Module):
    def __init__(self, c, attn_ratio=0.5, num_heads=4, shortcut=True):
        super().__init__()
        self.attn = Attention(c, attn_ratio=attn_ratio, num_heads=num_heads)
        self.ffn = nn.Sequential(Conv(c, c * 2, 1), Conv(c * 2, c, 1, act=False))
        self.add = shortcut

    def forward(self, x):
        x = x + self.attn(x) if self.add else self.attn(x)
        return x + self.ffn(x) if self.add else self.ffn(x)


class C2PSA(nn.Module):
    def __init__(self, c1, c2, n=1, e=0.5):
        super().__init__()
        assert c1 == c2
        self.c = int(c1 * e)
        self.cv1 = Conv(c1, 2 * self.c, 1, 1)
        self.cv2 = Conv(2 * self.c, c1, 1)
        self.m = nn.Sequential(*(PSABlock(self.c, attn_ratio=0.5, num_heads=self.c // 64) for _ in range(n)))

    def forward(self, x):
        a, b = self.cv1(x).split((self.c, self.c), dim=1)
        return self.cv2(torch.cat((a, self.m(b)), 1))


class Concat(nn.Module):
    def __init__(self, dimension=1):
        super().__init__()
        self.d = dimension

    def forward(self, xs):
        return torch.cat(xs, self.d)


class DFL(nn.Module):
    """Softmax over 16 bins, expectation with weights 0..15: a frozen 1x1 conv (never trained)."""

    def __init__(self, c1=REG_MAX):
        super().__init__()
        self.conv = nn.Conv2d(c1, 1, 1, bias=False).requires_grad_(False)
        self.conv.weight.data[:] = torch.arange(c1, dtype=torch.float).view(1, c1, 1, 1)
        self.c1 = c1

    def forward(self, x):  # x (B, 4*c1, A) -> (B, 4, A)
        b, _, a = x.shape
        return self.conv(x.view(b, 4, self.c1, a).transpose(2, 1).softmax(1)).view(b, 4, a)


class Detect(nn.Module):
    """Decoupled head; `legacy` = v8 class branch, else the YOLO11 depthwise class branch."""

    def __init__(self, nc=80, ch=(), legacy=True):
        super().__init__()
        self.nc, self.nl, self.reg_max = nc, len(ch), REG_MAX
        self.no = nc + 4 * REG_MAX
        self.stride = torch.tensor(STRIDES, dtype=torch.float)
        c2, c3 = max(16, ch[0] // 4, 4 * REG_MAX), max(ch[0], min(nc, 100))
        self.cv2 = nn.ModuleList(
            nn.Sequential(Conv(x, c2, 3), Conv(c2, c2, 3), nn.Conv2d(c2, 4 * REG_MAX, 1)) for x in ch
        )
        if legacy:
            self.cv3 = nn.ModuleList(nn.Sequential(Conv(x, c3, 3), Conv(c3, c3, 3), nn.Conv2d(c3, nc, 1)) for x in ch)
        else:
            self.cv3 = nn.ModuleList(
                nn.Sequential(
                    nn.Sequential(DWConv(x, x, 3), Conv(x, c3, 1)),
                    nn.Sequential(DWConv(c3, c3, 3), Conv(c3, c3, 1)),
                    nn.Conv2d(c3, nc, 1),
                )
                for x in ch
            )
        self.dfl = DFL(REG_MAX)

    def forward(self, xs):  # list of (B, C_i, h_i, w_i) -> list of (B, 64+nc, h_i, w_i)
        maps = [torch.cat((self.cv2[i](x), self.cv3[i](x)), 1) for i, x in enumerate(xs)]
        return maps if self.training else self.decode(maps)

    def decode(self, maps):
        """Inference output (B, 4+nc, A): cx, cy, w, h in input pixels, sigmoid class scores."""
        b = maps[0].shape[0]
        x = torch.cat([m.view(b, self.no, -1) for m in maps], 2)
        box, cls = x.split((4 * REG_MAX, self.nc), 1)
        anchors, strides = make_anchors(maps, self.stride)
        lt, rb = self.dfl(box).chunk(2, 1)
        a = anchors.T.unsqueeze(0)
        x1y1, x2y2 = a - lt, a + rb
        xywh = torch.cat(((x1y1 + x2y2) / 2, x2y2 - x1y1), 1) * strides.T
        return torch.cat((xywh, cls.sigmoid()), 1)

    def bias_init(self):
        """Reference init: box bias 1.0, class bias log(5 / nc / (640 / stride)^2)."""
        for a, b, s in zip(self.cv2, self.cv3, STRIDES):
            a[-1].bias.data[:] = 1.0
            b[-1].bias.data[: self.nc] = math.log(5 / self.nc / (640 / s) ** 2)


# ----------------------------------------------------------------------------- YAML parser
CHANNEL_MODULES = {"Conv", "DWConv", "Bottleneck", "C2f", "C3", "C3k2", "SPPF", "C2PSA"}
REPEAT_MODULES = {"C2f", "C3", "C3k2", "C2PSA"}
MODULES = {c.__name__: c for c in (Conv, DWConv, Bottleneck, C2f, C3, C3k, C3k2, SPPF, C2PSA, Concat, Detect)}
MODULES["nn.Upsample"] = nn.Upsample


def load_model_cfg(model):
    """model: 'yolov8n.yaml' (scale n of configs/models/yolov8.yaml) or a YAML path.
    Returns (cfg dict, scale letter); scale is the first one listed when the name has none
    (what the reference does, with a warning)."""
    path, scale = Path(model), None
    if not path.exists():
        m = re.fullmatch(r"(yolov8|yolo11)([nslmx])\.yaml", path.name)
        if not m:
            raise FileNotFoundError(f"unknown model {model!r}")
        path, scale = MODEL_DIR / f"{m.group(1)}.yaml", m.group(2)
    cfg = yaml.safe_load(path.read_text())
    return cfg, scale or next(iter(cfg["scales"]))


def make_divisible(x, divisor=8):
    return math.ceil(x / divisor) * divisor


def resolve_arg(a, nc):
    """YAML leaves None and nc as strings; the reference literal-evals them."""
    return {"None": None, "nc": nc}.get(a, a) if isinstance(a, str) else a


def parse_layers(cfg, scale, nc):
    """Build the layer list; returns (nn.Sequential of layers, list of output channels)."""
    depth, width, max_ch = cfg["scales"][scale]
    layers, ch, c_in = [], [], 3
    legacy = True  # Detect class branch: v8 unless the model has C3k2 (reference tasks.py)
    for i, (f, n, name, args) in enumerate(cfg["backbone"] + cfg["head"]):
        args = [resolve_arg(a, nc) for a in args]
        n = max(round(n * depth), 1) if n > 1 else n
        c1 = c_in if i == 0 else (ch[f] if isinstance(f, int) else None)
        if name in CHANNEL_MODULES:
            c2 = args[0] if args[0] == nc else make_divisible(min(args[0], max_ch) * width)
            args = [c1, c2, *args[1:]]
            if name in REPEAT_MODULES:
                args.insert(2, n)
                n = 1
            if name == "C3k2":
                legacy = False
                if scale in "mlx":
                    args[3] = True
        elif name == "Concat":
            c2 = sum(ch[x] for x in f)
        elif name == "Detect":
            args = [args[0], [ch[x] for x in f], legacy]
        else:
            c2 = c1
        cls = MODULES[name]
        layer = nn.Sequential(*(cls(*args) for _ in range(n))) if n > 1 else cls(*args)
        layer.f, layer.i = f, i
        layers.append(layer)
        ch.append(c2 if name != "Detect" else 0)
    return nn.Sequential(*layers), ch


class DetectionModel(nn.Module):
    """The network; state-dict names are model.{layer}.… as in Ultralytics."""

    def __init__(self, model="yolov8n.yaml", nc=None):
        super().__init__()
        cfg, self.scale = load_model_cfg(model)
        self.nc = nc or cfg["nc"]
        self.model, _ = parse_layers(cfg, self.scale, self.nc)
        self.stride = torch.tensor(STRIDES, dtype=torch.float)
        self.model[-1].bias_init()

    def forward(self, x):
        outputs = []
        for layer in self.model:
            if layer.f != -1:
                x = outputs[layer.f] if isinstance(layer.f, int) else [outputs[j] for j in layer.f]
            x = layer(x)
            outputs.append(x)
        return x


# ----------------------------------------------------------------------------- loss helpers
def make_anchors(feats, strides, offset=0.5):
    """Grid-cell centres (A, 2) in grid units, P3..P5, row-major, and their strides (A, 1)."""
    points, stride_col = [], []
    dtype, device = feats[0].dtype, feats[0].device
    for f, s in zip(feats, strides):
        h, w = f.shape[2:]
        sy, sx = torch.meshgrid(torch.arange(h, dtype=dtype, device=device) + offset,
                                torch.arange(w, dtype=dtype, device=device) + offset, indexing="ij")
        points.append(torch.stack((sx, sy), -1).view(-1, 2))
        stride_col.append(torch.full((h * w, 1), float(s), dtype=dtype, device=device))
    return torch.cat(points), torch.cat(stride_col)


def bbox_ciou(box1, box2, eps=1e-7):
    """CIoU of xyxy boxes (..., 4) -> (..., 1), exactly as Ultralytics bbox_iou(CIoU=True):
    eps added to both heights and to the union and c^2; alpha without gradient."""
    b1_x1, b1_y1, b1_x2, b1_y2 = box1.chunk(4, -1)
    b2_x1, b2_y1, b2_x2, b2_y2 = box2.chunk(4, -1)
    w1, h1 = b1_x2 - b1_x1, b1_y2 - b1_y1 + eps
    w2, h2 = b2_x2 - b2_x1, b2_y2 - b2_y1 + eps
    inter = (b1_x2.minimum(b2_x2) - b1_x1.maximum(b2_x1)).clamp(0) * \
            (b1_y2.minimum(b2_y2) - b1_y1.maximum(b2_y1)).clamp(0)
    union = w1 * h1 + w2 * h2 - inter + eps
    iou = inter / union
    cw = b1_x2.maximum(b2_x2) - b1_x1.minimum(b2_x1)
    ch = b1_y2.maximum(b2_y2) - b1_y1.minimum(b2_y1)
    c2 = cw.pow(2) + ch.pow(2) + eps
    rho2 = ((b2_x1 + b2_x2 - b1_x1 - b1_x2).pow(2) + (b2_y1 + b2_y2 - b1_y1 - b1_y2).pow(2)) / 4
    v = (4 / math.pi**2) * ((w2 / h2).atan() - (w1 / h1).atan()).pow(2)
    with torch.no_grad():
        alpha = v / (v - iou + (1 + eps))
    return iou - (rho2 / c2 + v * alpha)


def pad_targets(targets, batch_size, imgsz_hw):
    """(M, 6) [img, cls, cx, cy, w, h] normalised -> (B, maxN, 5) [cls, x1, y1, x2, y2] pixels;
    maxN = the most boxes in one image; padded rows all zero (Ultralytics preprocess)."""
    dtype, device = targets.dtype, targets.device
    if targets.shape[0] == 0:
        return torch.zeros(batch_size, 0, 5, dtype=dtype, device=device)
    img = targets[:, 0].long()
    n_max = int(torch.bincount(img, minlength=batch_size).max())
    out = torch.zeros(batch_size, n_max, 5, dtype=dtype, device=device)
    for j in range(batch_size):
        rows = targets[img == j, 1:]
        out[j, : rows.shape[0]] = rows
    h, w = imgsz_hw
    xywh = out[..., 1:5] * torch.tensor([w, h, w, h], dtype=dtype, device=device)
    out[..., 1:5] = torch.cat((xywh[..., :2] - xywh[..., 2:] / 2, xywh[..., :2] + xywh[..., 2:] / 2), -1)
    return out


# ----------------------------------------------------------------------------- assigner
@torch.no_grad()
def assign_task_aligned(scores, boxes, anchors, gt_labels, gt_boxes, mask_gt,
                        topk=10, alpha=0.5, beta=6.0, eps=1e-9):
    """Task-aligned assignment (Ultralytics 8.2/8.3 TaskAlignedAssigner).
    scores (B,A,nc) sigmoid; boxes (B,A,4) xyxy px; anchors (A,2) px; gt_labels (B,N,1);
    gt_boxes (B,N,4) xyxy px; mask_gt (B,N,1). Returns a dict with target_bboxes (B,A,4),
    target_scores (B,A,nc), fg_mask (B,A) bool, target_gt_idx (B,A), and the intermediates
    align / overlaps / in_gts / mask_pos_topk (B,N,A) used by the fixture tie checks."""
    B, N = gt_boxes.shape[:2]
    A, nc = scores.shape[1], scores.shape[2]
    if N == 0:
        z = torch.zeros(B, A, dtype=torch.bool, device=scores.device)
        return dict(target_bboxes=torch.zeros_like(boxes), target_scores=torch.zeros_like(scores),
                    fg_mask=z, target_gt_idx=z.long(), align=None, overlaps=None, in_gts=None,
                    mask_pos_topk=None)
    lt, rb = gt_boxes[:, :, None, :2], gt_boxes[:, :, None, 2:]
    deltas = torch.cat((anchors[None, None] - lt, rb - anchors[None, None]), -1)  # (B,N,A,4)
    in_gts = deltas.amin(-1) > eps
    valid = in_gts & mask_gt.bool()
    overlaps = torch.zeros(B, N, A, dtype=boxes.dtype, device=boxes.device)
    ciou = bbox_ciou(gt_boxes[:, :, None].expand(-1, -1, A, -1), boxes[:, None].expand(-1, N, -1, -1))
    overlaps[valid] = ciou.squeeze(-1)[valid].clamp(0)
    cls_idx = gt_labels.long().expand(-1, -1, A)  # (B,N,A)
    gt_scores = scores.permute(0, 2, 1).gather(1, cls_idx) * valid  # score of the GT's class
    align = gt_scores.pow(alpha) * overlaps.pow(beta)
    top_idx = align.topk(topk, dim=-1).indices
    in_topk = torch.zeros_like(valid).scatter_(-1, top_idx, True)
    mask_pos = in_topk & valid
    mask_pos_topk = mask_pos
    # An anchor picked by several GTs goes to the GT with the largest overlap, argmax over all GTs.
    multi = mask_pos.sum(1, keepdim=True) > 1
    if multi.any():
        best = F.one_hot(overlaps.argmax(1), N).permute(0, 2, 1).bool()
        mask_pos = torch.where(multi, best, mask_pos)
    fg_mask = mask_pos.any(1)
    target_gt_idx = mask_pos.to(torch.uint8).argmax(1)  # 0 where background
    bi = torch.arange(B, device=scores.device)[:, None]
    target_labels = gt_labels[..., 0].long()[bi, target_gt_idx]
    target_bboxes = gt_boxes[bi, target_gt_idx]
    target_scores = F.one_hot(target_labels, nc).to(scores.dtype) * fg_mask[..., None]
    # Soft labels: per GT align * max_overlap_pos / (max_align_pos + eps), max over GTs.
    align_pos = align * mask_pos
    max_align = align_pos.amax(-1, keepdim=True)
    max_overlap = (overlaps * mask_pos).amax(-1, keepdim=True)
    norm = (align_pos * max_overlap / (max_align + eps)).amax(1)  # (B,A)
    return dict(target_bboxes=target_bboxes, target_scores=target_scores * norm[..., None],
                fg_mask=fg_mask, target_gt_idx=target_gt_idx, align=align, overlaps=overlaps, in_gts=valid,
                mask_pos_topk=mask_pos_topk)


# ----------------------------------------------------------------------------- v8 loss
class V8DetectionLoss:
    """v8 detection loss (spec § 2). __call__(maps, targets) -> (loss_total, items, assignment)
    with loss_total = (box+cls+dfl) * B the value differentiated, items = [box, cls, dfl]
    detached (gains applied, as logged). Everything runs in the dtype of the maps."""

    def __init__(self, nc, box=7.5, cls=0.5, dfl=1.5, topk=10):
        self.nc, self.gains, self.topk = nc, (box, cls, dfl), topk

    def __call__(self, maps, targets):
        B, dtype = maps[0].shape[0], maps[0].dtype
        no = 4 * REG_MAX + self.nc
        pred = torch.cat([m.view(B, no, -1) for m in maps], 2)
        pred_dist, pred_logits = pred.split((4 * REG_MAX, self.nc), 1)
        pred_dist, pred_logits = pred_dist.permute(0, 2, 1).contiguous(), pred_logits.permute(0, 2, 1).contiguous()
        anchors, stride_t = make_anchors(maps, STRIDES)
        imgsz = (maps[0].shape[2] * STRIDES[0], maps[0].shape[3] * STRIDES[0])
        gt = pad_targets(targets.to(dtype), B, imgsz)
        gt_labels, gt_boxes = gt.split((1, 4), 2)
        mask_gt = gt_boxes.sum(2, keepdim=True) > 0
        pred_boxes = decode_boxes(anchors, pred_dist)  # grid units, xyxy
        asg = assign_task_aligned(pred_logits.detach().sigmoid(), pred_boxes.detach() * stride_t,
                                  anchors * stride_t, gt_labels, gt_boxes, mask_gt, topk=self.topk)
        target_scores, fg = asg["target_scores"], asg["fg_mask"]
        tss = max(target_scores.sum(), 1)
        loss_cls = F.binary_cross_entropy_with_logits(pred_logits, target_scores, reduction="none").sum() / tss
        loss_box = loss_dfl = torch.zeros((), dtype=dtype)
        if fg.any():
            target_boxes = asg["target_bboxes"] / stride_t
            weight = target_scores.sum(-1)[fg].unsqueeze(-1)
            ciou = bbox_ciou(pred_boxes[fg], target_boxes[fg])
            loss_box = ((1.0 - ciou) * weight).sum() / tss
            target_ltrb = torch.cat((anchors - target_boxes[..., :2], target_boxes[..., 2:] - anchors), -1)
            target_ltrb = target_ltrb.clamp(0, REG_MAX - 1 - 0.01)
            loss_dfl = (dfl_loss(pred_dist[fg].view(-1, REG_MAX), target_ltrb[fg]) * weight).sum() / tss
        items = torch.stack((loss_box * self.gains[0], loss_cls * self.gains[1], loss_dfl * self.gains[2]))
        return items.sum() * B, items.detach(), asg


def decode_boxes(anchors, pred_dist):
    """(B,A,64) bin logits -> (B,A,4) xyxy in grid units: softmax per side, expectation 0..15."""
    b, a, c = pred_dist.shape
    proj = torch.arange(REG_MAX, dtype=pred_dist.dtype, device=pred_dist.device)
    dist = pred_dist.view(b, a, 4, c // 4).softmax(3).matmul(proj)
    lt, rb = dist.chunk(2, -1)
    return torch.cat((anchors - lt, anchors + rb), -1)


def dfl_loss(logits, target):
    """logits (K*4, 16), target (K, 4) in [0, 14.99] -> (K, 1): two-bin CE, mean over sides."""
    tl = target.long()
    tr = tl + 1
    wl = tr - target
    wr = 1 - wl
    ce_l = F.cross_entropy(logits, tl.view(-1), reduction="none").view(tl.shape)
    ce_r = F.cross_entropy(logits, tr.view(-1), reduction="none").view(tl.shape)
    return (ce_l * wl + ce_r * wr).mean(-1, keepdim=True)


# ----------------------------------------------------------------------------- counting
def count_params(model):
    return sum(p.numel() for p in model.parameters())  # DFL conv included, as the reference counts


@torch.no_grad()
def count_gflops(model, imgsz=640):
    """GFLOPs = 2 x multiply-adds of one eval forward at imgsz x imgsz with BN fused.
    Counts every Conv2d (out elements x (c_in/groups) x kh x kw; the fused bias and the BN are
    not counted, as thop does) and, separately, the two attention matmuls (q^T k and v attn^T)
    in C2PSA. Returns (conv_gflops, attention_gflops)."""
    conv_macs, attn_macs = [0], [0]

    def conv_hook(m, inp, out):
        conv_macs[0] += out.numel() // out.shape[0] * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]

    def attn_hook(m, inp, out):
        n = inp[0].shape[2] * inp[0].shape[3]
        attn_macs[0] += m.num_heads * (n * n * m.key_dim + n * n * m.head_dim)

    hooks = [m.register_forward_hook(conv_hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    hooks += [m.register_forward_hook(attn_hook) for m in model.modules() if isinstance(m, Attention)]
    was_training = model.training
    model.eval()
    model(torch.zeros(1, 3, imgsz, imgsz))
    model.train(was_training)
    for h in hooks:
        h.remove()
    return 2 * conv_macs[0] / 1e9, 2 * attn_macs[0] / 1e9


# ----------------------------------------------------------------------------- self-check
EXPECTED_PARAMS = {
    "yolov8n": 3_157_200, "yolov8s": 11_166_560, "yolov8m": 25_902_640, "yolov8l": 43_691_520, "yolov8x": 68_229_648,
    "yolo11n": 2_624_080, "yolo11s": 9_458_752, "yolo11m": 20_114_688, "yolo11l": 25_372_160, "yolo11x": 56_966_176,
}
EXPECTED_GFLOPS = {"yolov8n": 8.7, "yolov8s": 28.6, "yolo11n": 6.5, "yolo11s": 21.5}


def self_check():
    ok = True
    for name, expected in EXPECTED_PARAMS.items():
        n = count_params(DetectionModel(f"{name}.yaml"))
        good = n == expected
        ok &= good
        print(f"{name:8s} params {n:>11,d}  expected {expected:>11,d}  {'ok' if good else 'MISMATCH'}")
    for name, expected in EXPECTED_GFLOPS.items():
        conv, attn = count_gflops(DetectionModel(f"{name}.yaml"))
        # thop (what the reference uses) sees only modules, so its number is the conv count;
        # convs + attention matmuls must also stay within 0.1 of the spec.
        good = round(conv, 1) == expected and abs(conv + attn - expected) <= 0.1
        ok &= good
        print(f"{name:8s} GFLOPs@640 convs {conv:.3f} (reference-style)  convs+attention matmuls "
              f"{conv + attn:.3f}  expected {expected}  {'ok' if good else 'MISMATCH'}")
    m = DetectionModel("yolov8n.yaml")
    names = set(m.state_dict())
    for key in ("model.0.conv.weight", "model.0.bn.running_mean", "model.2.m.0.cv1.conv.weight",
                "model.22.cv2.0.2.bias", "model.22.cv3.0.2.bias", "model.22.dfl.conv.weight",
                "model.0.bn.num_batches_tracked"):
        ok &= key in names
    ok &= "model.23.cv3.0.0.0.conv.weight" in DetectionModel("yolo11n.yaml").state_dict()
    print("state-dict names:", "ok" if ok else "CHECK FAILED")
    return ok


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--check", action="store_true", help="assert parameter counts and GFLOPs against the spec")
    args = ap.parse_args()
    if args.check:
        torch.set_num_threads(2)
        sys.exit(0 if self_check() else 1)
    ap.print_help()
