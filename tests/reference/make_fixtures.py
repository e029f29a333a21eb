#!/usr/bin/python3
# tests/reference/make_fixtures.py
#
# Writes the committed parity fixtures in tests/reference/fixtures/ from the independent
# PyTorch reference (yolo_reference.py). shrike's C++ tests load them and must reproduce
# the numbers: one training step (outputs, loss, gradients, BN running stats) for yolov8n
# and yolo11n, ten optimizer steps (SGD, AdamW) on a tiny model, one EMA update, and the
# warmup / LR schedule (schedule_reference.py). Deterministic: fixed seeds, CPU, float32,
# every float weight rounded to float16 first so both sides start from identical values.
# Each float32 result is recomputed in float64 to measure the noise floor, and the
# task-aligned assignment is checked for ties that could make it differ between machines.
#
#   /usr/bin/python3 tests/reference/make_fixtures.py        (about a minute on 2 cores)
import json
import sys
from pathlib import Path

import h5py
import numpy as np
import torch
import torch.nn as nn
import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import schedule_reference  # noqa: E402
import yolo_reference as yr  # noqa: E402

FIXTURES = HERE / "fixtures"
NC = 4
NAMES = [f"class{i}" for i in range(NC)]
# If a tie check fails, change the seed and say so. tiny: 8, not 3, because at seed 3 the
# AdamW run's fp32 and fp64 assignments parted at step 9 (see make_optimizer_fixtures).
SEEDS = {"yolov8n": 1, "yolo11n": 2, "tiny": 8, "tiny_ema": 4}
STRICT_STEPS = 2  # optimizer steps whose assignment must be tie-free and equal in fp32 and fp64
TOPK_REL_MARGIN = 1e-3  # 10th vs 11th align metric, and best vs second overlap, relative gap
MIN_DECISIVE_ALIGN = 1e-30  # far from float32 underflow
BOX_BIN_TILT = 0.4  # see randomize_model
ZERO_GRAD_NORM = 1e-9  # fp64 gradient norms below this are zero in exact arithmetic


# ----------------------------------------------------------------------------- weights
def randomize_model(model, seed):
    """Conv weights: PyTorch default init (from the seeded construction); BN weight U(0.5,1.5),
    bias U(-0.2,0.2), running_mean U(-0.2,0.2), running_var U(0.5,2.0). Detect final conv
    biases: the reference init plus U(-0.2,0.2), with the box bins tilted (bin k gets
    -BOX_BIN_TILT*k) so decoded boxes start a few grid cells wide, not 15: then every candidate
    anchor has a positive CIoU and top-k never picks among exact zeros (a tie). The class
    bias log(5/nc/(640/s)^2) keeps the cls loss in proportion to box and dfl.
    Then every float tensor is rounded to float16 and back."""
    g = torch.Generator().manual_seed(seed + 1000)

    def uniform(t, lo, hi):
        t.copy_(torch.rand(t.shape, generator=g) * (hi - lo) + lo)

    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                uniform(m.weight, 0.5, 1.5)
                uniform(m.bias, -0.2, 0.2)
                uniform(m.running_mean, -0.2, 0.2)
                uniform(m.running_var, 0.5, 2.0)
        detect = model.model[-1]
        detect.bias_init()
        tilt = -BOX_BIN_TILT * torch.arange(yr.REG_MAX, dtype=torch.float).repeat(4)
        for box_branch, cls_branch in zip(detect.cv2, detect.cv3):
            box_branch[-1].bias.add_(tilt + torch.rand(4 * yr.REG_MAX, generator=g) * 0.4 - 0.2)
            cls_branch[-1].bias.add_(torch.rand(detect.nc, generator=g) * 0.4 - 0.2)
        for v in model.state_dict().values():
            if v.dtype.is_floating_point:
                v.copy_(v.half().float())
    return model


def build_fixture_model(model_name, seed, nc=NC):
    torch.manual_seed(seed)
    return randomize_model(yr.DetectionModel(model_name, nc=nc), seed)


def write_weights(path, model, model_yaml, imgsz):
    with h5py.File(path, "w") as f:
        group = f.create_group("model")
        for name, v in model.state_dict().items():
            data = v.numpy() if not v.dtype.is_floating_point else v.half().numpy()
            group.create_dataset(name, data=data)
        f.attrs["nc"] = model.nc
        f.attrs["names"] = json.dumps(NAMES[: model.nc])
        f.attrs["model_yaml"] = model_yaml
        f.attrs["imgsz"] = imgsz
        f.attrs["stride"] = np.array(yr.STRIDES, dtype=np.int64)


# ----------------------------------------------------------------------------- batches
def make_batch(seed, batch, imgsz, boxes_per_image):
    """Images: smooth noise plus one filled rectangle per box (class-coloured), 0..1 float32.
    boxes_per_image: list of lists of (cls, cx, cy, w, h) in pixels before jitter; an empty
    list is a background image. Returns images (B,3,H,W), targets (M,6) normalised."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((batch, 3, imgsz // 8, imgsz // 8))
    images = np.repeat(np.repeat(coarse, 8, axis=2), 8, axis=3) * 0.6 + rng.random((batch, 3, imgsz, imgsz)) * 0.2
    rows = []
    for b, boxes in enumerate(boxes_per_image):
        for cls, cx, cy, w, h in boxes:
            cx, cy = cx + rng.uniform(-2, 2), cy + rng.uniform(-2, 2)
            w, h = w * rng.uniform(0.9, 1.1), h * rng.uniform(0.9, 1.1)
            x1, y1, x2, y2 = (int(max(0, round(v))) for v in (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2))
            images[b, :, y1:y2, x1:x2] = 0.25 + 0.15 * np.array([cls % 2, cls // 2, (cls + 1) % 3])[:, None, None]
            rows.append([b, cls, cx / imgsz, cy / imgsz, w / imgsz, h / imgsz])
    return torch.tensor(images, dtype=torch.float32), torch.tensor(rows, dtype=torch.float32).reshape(-1, 6)


MAIN_BOXES = [  # 128x128: large, overlapping, medium and small boxes; image 1 is background
    [(0, 40, 44, 56, 64), (1, 54, 58, 34, 30), (1, 94, 30, 22, 18), (2, 100, 96, 12, 14), (3, 60, 104, 16, 10)],
    [],
    [(2, 64, 64, 100, 80), (0, 22, 108, 14, 12), (3, 96, 40, 34, 46)],
]
TINY_BOXES = [  # 64x64
    [(0, 20, 22, 26, 30), (2, 46, 44, 20, 16), (1, 50, 14, 10, 12)],
    [(3, 32, 32, 44, 36), (1, 12, 52, 12, 10)],
]


def write_batch(path, images, targets):
    with h5py.File(path, "w") as f:
        f.create_dataset("images", data=images.numpy())
        f.create_dataset("targets", data=targets.numpy())


# ----------------------------------------------------------------------------- one step
def train_step(model, images, targets, dtype):
    """Training-mode forward (batch statistics), loss, backward on a copy in `dtype`.
    Returns dict: maps, items, total, grads {name: tensor}, state (after), assignment."""
    m = _copy_model(model, dtype).train()
    maps = m(images.to(dtype))
    total, items, asg = yr.V8DetectionLoss(m.nc)(maps, targets.to(dtype))
    total.backward()
    grads = {n: p.grad.detach().clone() for n, p in m.named_parameters() if p.requires_grad}
    return dict(maps=[x.detach() for x in maps], items=items, total=total.detach(), grads=grads,
                state={k: v.clone() for k, v in m.state_dict().items()}, asg=asg, model=m)


def _copy_model(model, dtype):
    import copy
    m = copy.deepcopy(model)
    return m.to(dtype)


def rel_err(a, b):
    a, b = a.double(), b.double()
    return float((a - b).norm() / b.norm()) if float(b.norm()) > 0 else float((a - b).norm())


# ----------------------------------------------------------------------------- tie checks
def check_assignment(asg, topk=10):
    """Raise if the assignment depends on ties: per valid GT, the 10th/11th candidate align
    metrics must differ by TOPK_REL_MARGIN (or, with fewer than 11 candidates, every candidate
    must have a positive metric, so the zero-valued padding picks of top-k do not matter);
    anchors claimed by several GTs must have a clear best overlap."""
    align, overlaps, valid = asg["align"], asg["overlaps"], asg["in_gts"]
    if align is None:
        return
    for b, n in zip(*torch.nonzero(valid.any(-1), as_tuple=True)):
        vals = align[b, n][valid[b, n]].sort(descending=True).values
        if len(vals) > topk:
            kth, nxt = float(vals[topk - 1]), float(vals[topk])
            if not (kth > MIN_DECISIVE_ALIGN and (kth - nxt) / kth > TOPK_REL_MARGIN):
                raise RuntimeError(f"top-k near-tie for image {int(b)} GT {int(n)}: {kth:.6g} vs {nxt:.6g}")
        elif not bool((vals > MIN_DECISIVE_ALIGN).all()):
            raise RuntimeError(f"image {int(b)} GT {int(n)}: a candidate anchor has align metric {float(vals.min()):.3g}")
    mask_pos = asg["mask_pos_topk"]
    multi = mask_pos.sum(1) > 1  # (B,A)
    for b, a in zip(*torch.nonzero(multi, as_tuple=True)):
        top2 = overlaps[b, :, a].topk(2).values
        if not float(top2[0] - top2[1]) > TOPK_REL_MARGIN * float(top2[0]):
            raise RuntimeError(f"overlap near-tie at image {int(b)} anchor {int(a)}: {top2.tolist()}")


def same_assignment(asg32, asg64):
    fg = asg32["fg_mask"]
    return bool(torch.equal(fg, asg64["fg_mask"]) and
                torch.equal(asg32["target_gt_idx"][fg], asg64["target_gt_idx"][fg]))


# ----------------------------------------------------------------------------- parity fixtures
def make_parity_fixture(model_name, imgsz=128):
    stem = f"{model_name}_s{imgsz}_b3"
    model = build_fixture_model(f"{model_name}.yaml", SEEDS[model_name])
    images, targets = make_batch(SEEDS[model_name], 3, imgsz, MAIN_BOXES)
    r32 = train_step(model, images, targets, torch.float32)
    r64 = train_step(model, images, targets, torch.float64)
    check_assignment(r32["asg"])
    check_assignment(r64["asg"])
    if not same_assignment(r32["asg"], r64["asg"]):
        raise RuntimeError(f"{model_name}: float32 and float64 assignments differ; change SEEDS[{model_name!r}]")
    write_weights(FIXTURES / f"{stem}.weights.h5", model, f"{model_name}.yaml", imgsz)
    write_batch(FIXTURES / f"{stem}.batch.h5", images, targets)
    noise = write_expected(FIXTURES / f"{stem}.expected.h5", r32, r64)
    fg = int(r32["asg"]["fg_mask"].sum())
    print(f"{stem}: loss {r32['items'].tolist()} total {float(r32['total']):.6f} fg anchors {fg}; "
          f"fp32 vs fp64 rel err: grads max {noise['grads']:.2e}, outputs max {noise['outputs']:.2e}, "
          f"loss {noise['loss']:.2e}")
    return noise


def write_expected(path, r32, r64):
    noise = {}
    with h5py.File(path, "w") as f:
        errs = []
        for level, (a, b) in zip(("p3", "p4", "p5"), zip(r32["maps"], r64["maps"])):
            d = f.create_dataset(f"outputs/{level}", data=a.numpy())
            d.attrs["rel_err_fp32_vs_fp64"] = rel_err(a, b)
            errs.append(d.attrs["rel_err_fp32_vs_fp64"])
        noise["outputs"] = max(errs)
        d = f.create_dataset("loss", data=r32["items"].float().numpy())
        d.attrs["rel_err_fp32_vs_fp64"] = noise["loss"] = rel_err(r32["items"], r64["items"])
        d = f.create_dataset("loss_total", data=np.float32(r32["total"]))
        d.attrs["rel_err_fp32_vs_fp64"] = rel_err(r32["total"].view(1), r64["total"].view(1))
        errs, zero = [], []
        for name, g in r32["grads"].items():
            g64 = r64["grads"][name]
            d = f.create_dataset(f"grads/{name}", data=g.numpy())
            d.attrs["rel_err_fp32_vs_fp64"] = rel_err(g, g64)
            d.attrs["abs_err_fp32_vs_fp64"] = float((g.double() - g64).norm())
            d.attrs["fp64_norm"] = float(g64.norm())
            d.attrs["zero_in_exact_arithmetic"] = int(float(g64.norm()) < ZERO_GRAD_NORM)
            (zero if d.attrs["zero_in_exact_arithmetic"] else errs).append((d.attrs["rel_err_fp32_vs_fp64"], name))
        noise["grads"], noise["grads_worst"] = max(errs)
        noise["zero_grads"] = [name for _, name in zero]
        noise["zero_grads_max_abs_fp32"] = max((float(r32["grads"][n].norm()) for _, n in zero), default=0.0)
        for name, v in r32["state"].items():
            if any(name.endswith(s) for s in ("running_mean", "running_var", "num_batches_tracked")):
                f.create_dataset(f"state_after/{name}", data=v.numpy())
        asg = r32["asg"]
        f.create_dataset("assign/fg_mask", data=asg["fg_mask"].numpy().astype(np.uint8))
        f.create_dataset("assign/target_gt_idx", data=(asg["target_gt_idx"] * asg["fg_mask"]).numpy().astype(np.int64))
        f.create_dataset("assign/target_scores_sum", data=np.float32(asg["target_scores"].sum()))
        f.attrs["grads_rel_err_fp32_vs_fp64_max"] = noise["grads"]
    return noise


# ----------------------------------------------------------------------------- tiny model runs
def write_tiny_yaml():
    """The yolov8 topology at a tiny scale. Detect's box branch has at least 64 channels
    (c2 = max(16, ch[0]//4, 64)), so about 150k parameters is the floor for this topology."""
    text = (yr.MODEL_DIR / "yolov8.yaml").read_text()
    cfg_body = text[text.index("\nnc:"):]
    start, end = cfg_body.index("scales:"), cfg_body.index("\nbackbone:")
    cfg_body = cfg_body[:start] + "scales: # [depth, width, max_channels]\n  t: [0.33, 0.0625, 256]\n" + cfg_body[end:]
    cfg_body = cfg_body.replace("nc: 80 # number of classes", f"nc: {NC} # number of classes")
    header = ("# Tiny YOLOv8 used by the optimizer and EMA fixtures (written by make_fixtures.py):\n"
              "# the yolov8 topology at scale t = [0.33, 0.0625, 256], nc = 4, about 195k parameters.\n")
    path = FIXTURES / "tiny.yaml"
    path.write_text(header + cfg_body.lstrip("\n"))
    return path


def build_optimizer(model, name, lr, momentum, decay):
    """Ultralytics build_optimizer groups: pg0 = every bias (no decay), pg1 = other weights
    (decay; the frozen DFL weight lands here but never has a gradient), pg2 = BatchNorm
    weights (no decay). SGD is Nesterov; Adam-family betas are (momentum, 0.999)."""
    biases, weights, bn_weights = [], [], []
    for module_name, module in model.named_modules():
        for param_name, p in module.named_parameters(recurse=False):
            full = f"{module_name}.{param_name}" if module_name else param_name
            if "bias" in full:
                biases.append(p)
            elif isinstance(module, nn.BatchNorm2d):
                bn_weights.append(p)
            else:
                weights.append(p)
    if name == "SGD":
        opt = torch.optim.SGD(biases, lr=lr, momentum=momentum, nesterov=True)
    else:
        opt = torch.optim.AdamW(biases, lr=lr, betas=(momentum, 0.999), weight_decay=0.0)
    opt.add_param_group({"params": weights, "weight_decay": decay})
    opt.add_param_group({"params": bn_weights, "weight_decay": 0.0})
    return opt


def train_tiny(model, images, targets, opt_name, lr, dtype, steps=10):
    """steps x (train-mode forward, loss, backward, clip_grad_norm_(10), step, zero_grad)."""
    import copy
    m = copy.deepcopy(model).to(dtype).train()
    opt = build_optimizer(m, opt_name, lr, 0.937, 5e-4)
    loss_fn = yr.V8DetectionLoss(m.nc)
    trajectory, norms, assignments, after_step1 = [], [], [], None
    for step in range(steps):
        total, items, asg = loss_fn(m(images.to(dtype)), targets.to(dtype))
        total.backward()
        norms.append(float(torch.nn.utils.clip_grad_norm_(m.parameters(), max_norm=10.0)))
        opt.step()
        opt.zero_grad()
        trajectory.append([*items.tolist(), float(total)])
        assignments.append(asg)
        if step == 0:
            after_step1 = {k: v.clone() for k, v in m.state_dict().items()}
    return np.array(trajectory), np.array(norms), m.state_dict(), assignments, after_step1


def make_optimizer_fixtures():
    tiny_yaml = write_tiny_yaml()
    model = build_fixture_model(str(tiny_yaml), SEEDS["tiny"])
    print(f"tiny model: {yr.count_params(model):,d} parameters")
    images, targets = make_batch(SEEDS["tiny"], 2, 64, TINY_BOXES)
    write_weights(FIXTURES / "tiny.weights.h5", model, tiny_yaml.read_text(), 64)
    write_batch(FIXTURES / "tiny.batch.h5", images, targets)
    noise = {}
    for opt_name, lr in (("SGD", 0.01), ("AdamW", 0.001)):
        t32, n32, s32, a32, first32 = train_tiny(model, images, targets, opt_name, lr, torch.float32)
        t64, n64, s64, a64, first64 = train_tiny(model, images, targets, opt_name, lr, torch.float64)
        equal = [same_assignment(x, y) for x, y in zip(a32, a64)]
        for step in range(STRICT_STEPS):
            check_assignment(a32[step])
            if not equal[step]:
                raise RuntimeError(f"tiny {opt_name} step {step}: fp32 and fp64 assignments differ; change SEEDS['tiny']")
        step_err = [rel_err(torch.tensor(t32[k]), torch.tensor(t64[k])) for k in range(len(t32))]
        with h5py.File(FIXTURES / f"tiny_{opt_name.lower()}.expected.h5", "w") as f:
            d = f.create_dataset("loss_trajectory", data=t32.astype(np.float32))
            d.attrs["rel_err_fp32_vs_fp64_per_step"] = np.array(step_err)
            d.attrs["assignment_equal_fp32_vs_fp64_per_step"] = np.array(equal, dtype=np.uint8)
            f.create_dataset("grad_norm_trajectory", data=n32.astype(np.float32))
            errs = {"final": write_state(f, "final", s32, s64), "after_step1": write_state(f, "after_step1", first32, first64)}
            f.attrs.update(optimizer=opt_name, lr=lr, momentum_or_beta1=0.937, weight_decay_pg1=5e-4, steps=len(t32),
                           clip_max_norm=10.0)
        noise[opt_name] = {k: max(v.values()) for k, v in errs.items()}
        noise[opt_name]["loss_per_step"] = [float(f"{e:.1e}") for e in step_err]
        print(f"tiny {opt_name}: loss {t32[0, 3]:.4f} -> {t32[-1, 3]:.4f}, grad norm {n32[0]:.2f} -> {n32[-1]:.2f}; "
              f"fp32 vs fp64 max rel err: after step 1 {noise[opt_name]['after_step1']:.1e}, final "
              f"{noise[opt_name]['final']:.1e}; assignment equal per step {equal}")
    return model, noise


def write_state(f, group, s32, s64):
    """Write a float32 state dict under `group`; returns {name: fp32-vs-fp64 rel err}."""
    errs = {}
    for name, v in s32.items():
        if not v.dtype.is_floating_point:
            f.create_dataset(f"{group}/{name}", data=v.numpy())
            continue
        d = f.create_dataset(f"{group}/{name}", data=v.float().numpy())
        if float(s64[name].norm()) > 0:
            d.attrs["rel_err_fp32_vs_fp64"] = errs[name] = rel_err(v, s64[name])
    return errs


# ----------------------------------------------------------------------------- EMA
def make_ema_fixture(model):
    """Ultralytics ModelEMA.update: updates += 1 first, then d = 0.9999*(1-exp(-updates/2000)),
    and for every floating-point entry of the EMA state dict (BN running stats and the DFL
    weight included; num_batches_tracked skipped): ema = ema*d + (1-d)*model, in float32."""
    ema = build_fixture_model(str(FIXTURES / "tiny.yaml"), SEEDS["tiny_ema"])
    msd, esd = model.state_dict(), ema.state_dict()
    for name, v in msd.items():  # distinct counters, to show integer entries are left alone
        if not v.dtype.is_floating_point:
            v.fill_(41)
            esd[name].fill_(40)
    before = {k: v.clone() for k, v in esd.items()}
    updates = 41 + 1
    d = 0.9999 * (1 - np.exp(-updates / 2000))
    with torch.no_grad():
        for name, v in esd.items():
            if v.dtype.is_floating_point:
                v *= d
                v += (1 - d) * msd[name].detach()
    with h5py.File(FIXTURES / "tiny_ema.expected.h5", "w") as f:
        for group, sd in (("model", msd), ("ema_before", before), ("ema_after", esd)):
            for name, v in sd.items():  # model and ema_before are float16-exact: stored as float16
                exact16 = v.dtype.is_floating_point and group != "ema_after"
                f.create_dataset(f"{group}/{name}", data=v.half().numpy() if exact16 else v.numpy())
        f.attrs["updates_before"] = 41
        f.attrs["updates_after"] = updates
        f.attrs["decay"] = d
    print(f"tiny EMA: updates 41 -> 42, d = {d:.10f}")


# ----------------------------------------------------------------------------- main
def main():
    torch.set_num_threads(2)
    FIXTURES.mkdir(parents=True, exist_ok=True)
    noise = {name: make_parity_fixture(name) for name in ("yolov8n", "yolo11n")}
    model, opt_noise = make_optimizer_fixtures()
    make_ema_fixture(model)
    schedule_reference.write_schedule(FIXTURES / "schedule.json")
    print("noise floor (max over tensors, fp32 vs fp64):",
          json.dumps({**noise, "tiny_final_state": opt_noise}, indent=1))
    for p in sorted(FIXTURES.iterdir()):
        print(f"{p.stat().st_size / 1e6:9.3f} MB  {p.name}")


if __name__ == "__main__":
    main()
