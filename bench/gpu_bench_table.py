#!/usr/bin/env python3
# bench/gpu_bench_table.py
#
# The side-by-side table bench/gpu-check.sh prints last: reads the JSON lines that
# `shrike debug bench-step` (framework "shrike") and bench/torch_train_step.py (framework
# "torch") printed, one per case, plus optionally bench/device_peaks.py's line, and writes
# for each (model, batch, precision): images/s of both and the ratio shrike / torch, step
# ms, device memory, the last loss of both, and the step's FLOPs (counted by the torch
# script: the same model does the same convolutions) set against the measured peak:
# achieved TFLOP/s and the time floors flops / peak and bytes / copy bandwidth (bytes:
# the unfused traffic the torch script counted, an upper-side figure). Lines that are not
# JSON or carry "error" are shown as failures, so a crashed case is never a silent gap.
#
#   python3 bench/gpu_bench_table.py RESULTS.jsonl [--peaks PEAKS.json] [--markdown]
import argparse
import json
import sys


def read_lines(path):
    records = []
    for text in open(path, encoding="utf-8", errors="replace"):
        text = text.strip()
        if not text:
            continue
        try:
            records.append(json.loads(text))
        except json.JSONDecodeError:
            records.append({"error": f"not JSON: {text[:80]}"})
    return records


def case_key(record):
    model = str(record.get("model", "?")).removesuffix(".yaml")
    return model, int(record.get("batch", 0)), str(record.get("precision", "?"))


def number(value, digits=1):
    return "-" if value is None else f"{value:.{digits}f}"


def main():
    ap = argparse.ArgumentParser(description="Side-by-side table of shrike and torch step benchmarks.")
    ap.add_argument("results", help="JSON lines from both benchmarks")
    ap.add_argument("--peaks", help="bench/device_peaks.py output")
    ap.add_argument("--markdown", action="store_true", help="a Markdown table (for bench/RESULTS.md)")
    args = ap.parse_args()
    cases, failures = {}, []
    for record in read_lines(args.results):
        if "error" in record:
            failures.append(record)
            continue
        cases.setdefault(case_key(record), {})[record.get("framework", "?")] = record
    peaks = {}
    if args.peaks:
        try:
            peaks = json.loads(open(args.peaks).read().strip().splitlines()[-1])
        except (OSError, ValueError, IndexError):
            peaks = {}
    head = ["model", "batch", "prec", "shrike img/s", "torch img/s", "ratio", "shrike ms", "torch ms",
            "shrike GiB", "torch GiB", "shrike loss", "torch loss", "GFLOP/step", "shrike TFLOP/s",
            "torch TFLOP/s", "floor ms flops", "floor ms bytes"]
    rows = []
    for key in sorted(cases, key=lambda k: (k[0], k[1], k[2])):
        s, t = cases[key].get("shrike", {}), cases[key].get("torch", {})
        s_ips, t_ips = s.get("images_per_s"), t.get("images_per_s")
        flops = t.get("step_flops")
        # bf16 runs on the bf16 peak; fp32 on TF32 when PyTorch allowed it (its default).
        peak = peaks.get("bf16_tflops") if key[2] == "bf16" else peaks.get("tf32_tflops")
        bytes_moved, bandwidth = t.get("step_bytes_unfused"), peaks.get("copy_gbps")
        rows.append([
            key[0], str(key[1]), key[2], number(s_ips), number(t_ips),
            number(s_ips / t_ips, 2) if s_ips and t_ips else "-",
            number(s.get("step_ms")), number(t.get("step_ms")),
            number(s.get("peak_mem_gib"), 2), number(t.get("peak_mem_gib"), 2),
            number(s.get("loss"), 3), number(t.get("loss"), 3),
            number(flops / 1e9 if flops else None, 0),
            number(flops / s["step_ms"] / 1e9 if flops and s.get("step_ms") else None),
            number(flops / t["step_ms"] / 1e9 if flops and t.get("step_ms") else None),
            number(flops / (peak * 1e12) * 1e3 if flops and peak else None, 2),
            number(bytes_moved / (bandwidth * 1e9) * 1e3 if bytes_moved and bandwidth else None, 2),
        ])
    if args.markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for row in rows:
            print("| " + " | ".join(row) + " |")
    else:
        widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head)]
        print("  ".join(h.rjust(w) for h, w in zip(head, widths)))
        for row in rows:
            print("  ".join(c.rjust(w) for c, w in zip(row, widths)))
    if peaks:
        print(f"peaks ({peaks.get('device', '?')}): bf16 {number(peaks.get('bf16_tflops'), 0)} TFLOP/s, "
              f"tf32 {number(peaks.get('tf32_tflops'), 0)}, fp32 {number(peaks.get('fp32_tflops'), 0)}, "
              f"copy {number(peaks.get('copy_gbps'), 0)} GB/s (read + write)")
    devices = {r.get("device") for c in cases.values() for r in c.values() if r.get("device")}
    if devices:
        print("devices: " + "; ".join(sorted(devices)))
    for failure in failures:
        print(f"FAILED: {failure.get('framework', '?')} {failure.get('model', '')} batch {failure.get('batch', '')} "
              f"{failure.get('precision', '')}: {failure['error']}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
