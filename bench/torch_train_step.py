#!/usr/bin/env python3
# bench/torch_train_step.py
#
# The PyTorch side of the GPU training-step benchmark (issue 6; bench/gpu-check.sh runs it
# beside `shrike debug bench-step` and prints both). Times one training step of the
# independent reference model and v8 loss of tests/reference/yolo_reference.py on a GPU,
# set up as Ultralytics trains (and as shrike's bench-step does):
#   data:   one synthetic batch kept on the device: random uint8 pixels, converted with
#           .float() / 255 inside the step (as Ultralytics' preprocess does), and
#           --boxes random boxes per image (centres 0.1..0.9, sides 0.02..0.3, random class);
#   step:   forward (under torch.autocast(device, bfloat16) for --precision bf16; fp32
#           master weights), the v8 loss in fp32 (the head's maps cast to float, as
#           shrike keeps the loss in fp32 under amp), backward, clip_grad_norm_ 10, SGD
#           (lr 0.01, momentum 0.937, Nesterov; groups: biases, conv weights with decay
#           5e-4, BN weights, as the reference's trainer), zero_grad, EMA update
#           (decay 0.9999 (1 - exp(-updates / 2000)) over the float state, with foreach
#           ops; --no-ema leaves it out); the DFL conv is frozen as in the reference.
#   timing: torch.backends.cudnn.benchmark = True; --warmup untimed steps (the cuDNN
#           algorithm search happens there), then --steps steps between CUDA events, one
#           pair per step; step_ms is their mean, step_ms_median the median.
#   memory: peak_mem_gib is the device's memory in use after the timed steps (total - free
#           from cudaMemGetInfo: the CUDA context and PyTorch's cached blocks included,
#           comparable with shrike's figure); torch_max_allocated_gib / _reserved_gib are
#           PyTorch's own high-water marks.
#   counts: (METHOD.md: "two numbers first") one extra step under
#           torch.utils.flop_counter.FlopCounterMode gives the step's matrix FLOPs
#           (convolutions forward and backward, matmuls; elementwise work not counted):
#           step_flops, fwd_flops, achieved_tflops = step_flops / step time. One more under a
#           dispatch mode (OpCounter) that adds up, for every non-view aten op, the bytes of
#           its tensor inputs and outputs: step_bytes_unfused, the device-memory traffic of
#           the step if every op read its inputs and wrote its outputs once (no fusion, no
#           cache reuse): an upper-side estimate to set against the copy bandwidth. It also
#           counts the convolution and matmul FLOPs itself (step_flops_own: a cross-check,
#           and the count on PyTorch < 2.1, which lacks the flop counter). --no-count
#           skips both steps.
# Prints one JSON line with the keys of `shrike debug bench-step`: framework, model, imgsz,
# batch, precision, images_per_s, step_ms, peak_mem_gib, loss (the last step's
# (box + cls + dfl) * batch), device; plus the counts above and versions.
#
#   python3 bench/torch_train_step.py --model yolov8n --imgsz 640 --batch 64 --precision bf16
#   python3 bench/torch_train_step.py --device cpu --imgsz 64 --batch 2 --steps 2 --warmup 1  # smoke test
import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn as nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

try:  # PyTorch >= 2.1; older ones (Debian's 1.13, for the CPU smoke test) use OpCounter's count
    from torch.utils.flop_counter import FlopCounterMode
except ImportError:
    FlopCounterMode = None

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "reference"))
import yolo_reference as yr  # noqa: E402

NC = 80
GIB = float(1 << 30)


def parse_args():
    ap = argparse.ArgumentParser(description="Time one YOLO training step in PyTorch (see the header).")
    ap.add_argument("--model", default="yolov8n", help="yolov8n, yolov8s, yolo11n ... (configs/models)")
    ap.add_argument("--imgsz", type=int, default=640, help="square image side, a multiple of 32")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--precision", choices=("fp32", "bf16"), default="bf16")
    ap.add_argument("--steps", type=int, default=30, help="timed steps")
    ap.add_argument("--warmup", type=int, default=8, help="untimed steps first")
    ap.add_argument("--boxes", type=int, default=8, help="targets per image")
    ap.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu (cpu: a smoke test)")
    ap.add_argument("--no-ema", action="store_true", help="leave the EMA update out of the step")
    ap.add_argument("--no-count", action="store_true", help="skip the FLOP and byte counting steps")
    ap.add_argument("--channels-last", action="store_true", help="NHWC model and input (not Ultralytics' default)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.imgsz % 32 or args.imgsz < 32:
        ap.error(f"--imgsz {args.imgsz}: must be a positive multiple of 32")
    if args.batch < 1 or args.steps < 1 or args.warmup < 0 or args.boxes < 1:
        ap.error("--batch, --steps and --boxes must be >= 1, --warmup >= 0")
    args.model = args.model.removesuffix(".yaml")
    return args


def random_targets(batch, boxes, generator):
    """(batch * boxes, 6) rows [image, class, cx, cy, w, h], normalised, as bench-step draws them."""
    n = batch * boxes
    image = torch.arange(batch).repeat_interleave(boxes).float()
    cls = torch.randint(0, NC, (n,), generator=generator).float()
    cxy = torch.rand(n, 2, generator=generator) * 0.8 + 0.1
    wh = torch.rand(n, 2, generator=generator) * 0.28 + 0.02
    return torch.cat((image[:, None], cls[:, None], cxy, wh), 1)


def optimizer_for(model, lr=0.01, momentum=0.937, decay=5e-4):
    """SGD with the reference trainer's three groups: biases, conv weights (decay), BN weights."""
    biases, weights, bn_weights = [], [], []
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            if not p.requires_grad:
                continue
            if name == "bias":
                biases.append(p)
            elif isinstance(module, nn.BatchNorm2d):
                bn_weights.append(p)
            else:
                weights.append(p)
    groups = [{"params": biases, "weight_decay": 0.0}, {"params": weights, "weight_decay": decay},
              {"params": bn_weights, "weight_decay": 0.0}]
    return torch.optim.SGD(groups, lr=lr, momentum=momentum, nesterov=True)


class ModelEma:
    """Ultralytics' ModelEMA: ema = d * ema + (1 - d) * model over the float state, d ramping up."""

    def __init__(self, model, decay=0.9999, tau=2000):
        self.model_state = [v for v in model.state_dict().values() if v.dtype.is_floating_point]
        self.ema_state = [v.detach().clone() for v in self.model_state]
        self.decay, self.tau, self.updates = decay, tau, 0

    @torch.no_grad()
    def update(self):
        self.updates += 1
        d = self.decay * (1 - math.exp(-self.updates / self.tau))
        torch._foreach_mul_(self.ema_state, d)
        torch._foreach_add_(self.ema_state, [v.detach() for v in self.model_state], alpha=1 - d)


def make_step(args, device):
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    model = yr.DetectionModel(f"{args.model}.yaml", nc=NC).to(device).train()
    memory_format = torch.channels_last if args.channels_last else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    trainable = [p for p in model.parameters() if p.requires_grad]  # the DFL conv is frozen
    optimizer = optimizer_for(model)
    ema = None if args.no_ema else ModelEma(model)
    loss_fn = yr.V8DetectionLoss(NC)
    pixels = torch.randint(0, 256, (args.batch, 3, args.imgsz, args.imgsz), dtype=torch.uint8, generator=generator)
    pixels = pixels.to(device).contiguous(memory_format=memory_format)
    targets = random_targets(args.batch, args.boxes, generator).to(device)
    device_type = torch.device(device).type
    bf16 = args.precision == "bf16"

    def step():
        images = pixels.float() / 255
        with torch.autocast(device_type, dtype=torch.bfloat16, enabled=bf16):
            maps = model(images)
        total, _, _ = loss_fn([m.float() for m in maps], targets)
        total.backward()
        torch.nn.utils.clip_grad_norm_(trainable, max_norm=10.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if ema is not None:
            ema.update()
        return total.detach()

    return step


def conv_flops(out_numel, weight):
    """2 * outputs * (input channels per group * kernel area): one convolution's multiply-adds."""
    return 2 * out_numel * weight.shape[1] * math.prod(weight.shape[2:])


class OpCounter(TorchDispatchMode):
    """Over every aten op that is not a pure view: the bytes of its tensor inputs and outputs;
    and the FLOPs of convolutions (forward, both backward products) and matrix products, counted
    as FlopCounterMode counts them (a cross-check of it, and the count where it is missing)."""

    def __init__(self):
        super().__init__()
        self.bytes = 0
        self.flops = 0
        self.backward_flops = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        returns = func._schema.returns
        if returns and all(r.alias_info is not None and not r.alias_info.is_write for r in returns):
            return out  # a view moves no data
        tensors = [t for t in tree_flatten((args, kwargs or {}, out))[0] if isinstance(t, torch.Tensor)]
        self.bytes += sum(t.numel() * t.element_size() for t in tensors)
        self.count_flops(func, args, out)
        return out

    def count_flops(self, func, args, out):
        name = func.overloadpacket.__name__
        if name == "convolution":
            self.flops += conv_flops(out.numel(), args[1])
        elif name == "convolution_backward":
            grad_output, weight, mask = args[0], args[2], args[10]
            flops = conv_flops(grad_output.numel(), weight) * (int(mask[0]) + int(mask[1]))
            self.flops += flops
            self.backward_flops += flops
        elif name in ("mm", "addmm", "bmm", "baddbmm"):
            a, b = (args[0], args[1]) if name in ("mm", "bmm") else (args[1], args[2])
            self.flops += 2 * a.numel() * b.shape[-1]


def count_step(step):
    """One step under OpCounter, one under FlopCounterMode where PyTorch has it."""
    counter = OpCounter()
    with counter:
        step()
    counts = {"step_bytes_unfused": counter.bytes, "step_flops_own": counter.flops,
              "step_flops": counter.flops, "fwd_flops": counter.flops - counter.backward_flops,
              "flop_counter": "own"}
    if FlopCounterMode is not None:
        with FlopCounterMode(display=False) as flops:
            step()
        per_op = flops.get_flop_counts().get("Global", {})
        backward = sum(count for op, count in per_op.items() if "backward" in str(op))
        counts.update(step_flops=flops.get_total_flops(), flop_counter="torch.utils.flop_counter")
        counts["fwd_flops"] = counts["step_flops"] - backward
    return counts


def time_steps(step, args, device):
    """Per-step milliseconds of --steps steps after --warmup, and the last loss."""
    for _ in range(args.warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        starts = [torch.cuda.Event(enable_timing=True) for _ in range(args.steps)]
        ends = [torch.cuda.Event(enable_timing=True) for _ in range(args.steps)]
        for i in range(args.steps):
            starts[i].record()
            loss = step()
            ends[i].record()
        torch.cuda.synchronize(device)
        return [s.elapsed_time(e) for s, e in zip(starts, ends)], float(loss)
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        loss = step()
        times.append(1000 * (time.perf_counter() - t0))
    return times, float(loss)


def cudnn_fp32_precision():
    """How cuDNN runs fp32 convolutions: 'tf32' (PyTorch's default: TF32 tensor cores) or 'ieee'."""
    conv = getattr(torch.backends.cudnn, "conv", None)
    if conv is not None and hasattr(conv, "fp32_precision"):  # PyTorch >= 2.9
        return conv.fp32_precision
    return "tf32" if torch.backends.cudnn.allow_tf32 else "ieee"


def main():
    args = parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("error: --device cuda but torch.cuda.is_available() is False; use --device cpu for a smoke test")
    torch.backends.cudnn.benchmark = True
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.cuda.reset_peak_memory_stats(device)
    step = make_step(args, device)
    counts = {} if args.no_count else count_step(step)
    times, loss = time_steps(step, args, device)
    step_ms = statistics.fmean(times)
    line = {
        "framework": "torch",
        "model": f"{args.model}.yaml",
        "imgsz": args.imgsz,
        "batch": args.batch,
        "precision": args.precision,
        "images_per_s": args.batch * 1000.0 / step_ms,
        "step_ms": step_ms,
        "step_ms_median": statistics.median(times),
        "peak_mem_gib": None,
        "loss": loss,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "steps": args.steps,
        "warmup": args.warmup,
        "ema": not args.no_ema,
        "channels_last": args.channels_last,
        "torch": torch.__version__,
    }
    if device.type == "cuda":
        free, total = torch.cuda.mem_get_info(device)
        line["peak_mem_gib"] = (total - free) / GIB
        line["torch_max_allocated_gib"] = torch.cuda.max_memory_allocated(device) / GIB
        line["torch_max_reserved_gib"] = torch.cuda.max_memory_reserved(device) / GIB
        line["cudnn"] = torch.backends.cudnn.version()
        line["cudnn_fp32_precision"] = cudnn_fp32_precision()
    if counts:
        line.update(counts)
        line["achieved_tflops"] = counts["step_flops"] / (step_ms / 1000.0) / 1e12
    print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
