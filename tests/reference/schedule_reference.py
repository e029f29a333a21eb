#!/usr/bin/python3
# tests/reference/schedule_reference.py
#
# Replays the Ultralytics 8.3 trainer's learning-rate / momentum / accumulate logic with a
# real torch SGD optimizer and LambdaLR, so that shrike's schedule (pipeline/train) can be
# compared iteration by iteration. make_fixtures.py calls write_schedule() to produce
# fixtures/schedule.json. Behaviour followed (ultralytics/engine/trainer.py, 8.3 line):
#   _setup_train: accumulate = max(round(nbs / batch), 1);
#                 weight_decay = weight_decay * batch * accumulate / nbs;
#                 optimizer groups [pg0 biases, pg1 weights (decay), pg2 BN weights], all
#                 created with lr = lr0 (so initial_lr = lr0 for every group);
#                 scheduler.last_epoch = start_epoch - 1   ("do not move")
#   _setup_scheduler: lf linear  = max(1 - x/epochs, 0) * (1 - lrf) + lrf,
#                     lf cosine  = ((1 - cos(x*pi/epochs)) / 2) * (lrf - 1) + 1  (one_cycle(1, lrf, epochs));
#                     LambdaLR(optimizer, lf)
#   _do_train:  nw = max(round(warmup_epochs * nb), 100) if warmup_epochs > 0 else -1;
#               last_opt_step = -1; at each epoch start scheduler.step();
#               per batch ni = i + nb*epoch; if ni <= nw (8.3; 8.4 uses ni < nw):
#                   accumulate = max(1, int(np.interp(ni, [0, nw], [1, nbs/batch]).round()))
#                   group j lr = np.interp(ni, [0, nw], [warmup_bias_lr if j == 0 else 0, initial_lr*lf(epoch)])
#                   momentum   = np.interp(ni, [0, nw], [warmup_momentum, momentum])  (SGD groups)
#               optimizer_step when ni - last_opt_step >= accumulate (then last_opt_step = ni).
#   end of epoch: logged lr/pg{j} = the groups' lr after the last batch (results.csv).
# np.interp's round() is numpy's round-half-to-even.
import json
import math
import warnings

import numpy as np
import torch

BASE = dict(batches_per_epoch=20, batch=16, nbs=64, lr0=0.01, lrf=0.01, momentum=0.937, weight_decay=5e-4,
            warmup_epochs=3.0, warmup_momentum=0.8, warmup_bias_lr=0.1, optimizer="SGD")


def lr_lambda(cos_lr, epochs, lrf):
    if cos_lr:
        return lambda x: max((1 - math.cos(x * math.pi / epochs)) / 2, 0) * (lrf - 1) + 1
    return lambda x: max(1 - x / epochs, 0) * (1.0 - lrf) + lrf


def replay(epochs, cos_lr, max_iterations, p=BASE):
    """Run the 8.3 loop without a model; returns (iterations, epoch records, settings)."""
    params = [torch.nn.Parameter(torch.zeros(1)) for _ in range(3)]
    batch, nbs, nb = p["batch"], p["nbs"], p["batches_per_epoch"]
    accumulate = max(round(nbs / batch), 1)
    weight_decay = p["weight_decay"] * batch * accumulate / nbs
    opt = torch.optim.SGD([params[0]], lr=p["lr0"], momentum=p["momentum"], nesterov=True)
    opt.add_param_group({"params": [params[1]], "weight_decay": weight_decay})
    opt.add_param_group({"params": [params[2]], "weight_decay": 0.0})
    lf = lr_lambda(cos_lr, epochs, p["lrf"])
    scheduler = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda=lf)
    scheduler.last_epoch = -1  # start_epoch - 1
    nw = max(round(p["warmup_epochs"] * nb), 100) if p["warmup_epochs"] > 0 else -1
    last_opt_step, iterations, epoch_records = -1, [], []
    for epoch in range(epochs):
        with warnings.catch_warnings():  # as the trainer does: step() before optimizer.step()
            warnings.simplefilter("ignore")
            scheduler.step()
        start_lrs = [g["lr"] for g in opt.param_groups]
        for i in range(nb):
            ni = i + nb * epoch
            if ni <= nw:
                xi = [0, nw]
                accumulate = max(1, int(np.interp(ni, xi, [1, nbs / batch]).round()))
                for j, g in enumerate(opt.param_groups):
                    g["lr"] = np.interp(ni, xi, [p["warmup_bias_lr"] if j == 0 else 0.0, g["initial_lr"] * lf(epoch)])
                    g["momentum"] = np.interp(ni, xi, [p["warmup_momentum"], p["momentum"]])
            step = ni - last_opt_step >= accumulate
            if step:
                last_opt_step = ni
            if ni < max_iterations:
                iterations.append(dict(ni=ni, epoch=epoch, i=i, lr_pg0=float(opt.param_groups[0]["lr"]),
                                       lr_pg1=float(opt.param_groups[1]["lr"]), lr_pg2=float(opt.param_groups[2]["lr"]),
                                       momentum=float(opt.param_groups[0]["momentum"]), accumulate=accumulate,
                                       optimizer_step=step))
        epoch_records.append(dict(epoch=epoch, lf=lf(epoch), lr_at_epoch_start=[float(x) for x in start_lrs],
                                  logged_lr_at_epoch_end=[float(g["lr"]) for g in opt.param_groups]))
    settings = dict(p, epochs=epochs, cos_lr=cos_lr, warmup_iterations=nw, weight_decay_scaled=weight_decay)
    return iterations, epoch_records, settings


def write_schedule(path):
    runs = {}
    for epochs, max_it in ((5, 130), (10, 130)):
        for cos_lr in (False, True):
            iterations, epochs_rec, settings = replay(epochs, cos_lr, max_it)
            runs[f"epochs{epochs}_{'cos' if cos_lr else 'linear'}"] = dict(
                settings=settings, iterations=iterations, epochs=epochs_rec)
    doc = dict(
        about=("Ultralytics 8.3 warmup + LR schedule replayed with torch SGD + LambdaLR by "
               "tests/reference/schedule_reference.py (its header lists the trainer.py lines followed). "
               "Per iteration: the lr of pg0 (biases), pg1 (decayed weights), pg2 (BN weights), the SGD momentum "
               "and accumulate in force for that batch, and whether the optimizer steps after it. "
               "Per epoch: lf(epoch), the lrs right after scheduler.step() at the epoch start, and the lrs logged "
               "at the epoch end (results.csv lr/pg*). With 20 batches/epoch the warmup is max(round(3*20), 100) = 100 "
               "iterations, so the epochs-5 runs (100 iterations in all) are warmup from start to end; the "
               "epochs-10 runs add 30 iterations after warmup (first 130 listed)."),
        runs=runs)
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)


if __name__ == "__main__":
    import sys
    write_schedule(sys.argv[1] if len(sys.argv) > 1 else "schedule.json")
