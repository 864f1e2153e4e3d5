#!/usr/bin/python3
"""The torch oracle of tests/unit/test_loss.cpp, test_optim.cpp and test_schedule.cpp.

Usage: /usr/bin/python3 tests/oracle/make_optim_fixtures.py OUT_DIR

Run with Debian's Python (torch 1.13). Writes OUT_DIR/manifest.json and float32 .npy arrays beside it; builds
everything in OUT_DIR.tmp.<pid> and renames it to OUT_DIR, so concurrent test processes never see half a
directory (the first rename wins; the others discard their copy). Seeded: the same files every run.

manifest.json:
  params     the parameters every optimizer case starts from: name, shape, is_bn_or_bias, value (file) and
             grads (a file per step, or null where .grad is None; "skip.weight" has no grad on step 1,
             "frozen.weight" never has one, "big.weight" is large enough for the threaded loops)
  sgd, adamw cases: options (as resnet's SgdOptions / AdamWOptions), lrs and momenta per step, then
             after[name] (the weights after the steps) and state[name] (torch's optimizer.state: tensors as
             files, "step" as a number) — from torch.optim.SGD / AdamW on float32 tensors, with the BN/bias
             exclusion as a second param group with weight_decay 0
  clip       cases of clip_grad_norm_ on the step-0 grads: max_norm, total_norm (torch's, float32),
             total_norm_f64 (the same in float64), grads[name] after clipping
  loss       cases: logits (file, f32 [N, C]), labels, label_smoothing, loss and grad from
             F.cross_entropy in float64 on the same float32 logits (the exact answer), loss_f32 and grad_f32
             from torch in float32, correct (argmax == label), top5 (label among topk(5); only without ties)
  schedules  cases: spec (every field of resnet::LrSchedule), lrs and momenta of the first n steps, from
             torch's schedulers: LinearLR warm-up per step, then the main scheduler restarted by
             SequentialLR and stepped once every steps_per_tick optimizer steps
"""
import json
import os
import shutil
import sys
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch.optim import lr_scheduler

STEPS = 3


class Writer:
    def __init__(self, out_dir):
        self.out_dir = out_dir
        self.count = 0

    def array(self, tensor, stem):
        """Saves a tensor as float32 .npy and returns its file name."""
        self.count += 1
        name = f"{self.count:03d}_{stem}.npy"
        np.save(os.path.join(self.out_dir, name), tensor.detach().to(torch.float32).numpy())
        return name

    def array64(self, tensor, stem):
        self.count += 1
        name = f"{self.count:03d}_{stem}.npy"
        np.save(os.path.join(self.out_dir, name), tensor.detach().to(torch.float64).numpy())
        return name


def make_params(gen):
    """name, shape, is_bn_or_bias, value, grads per step (None = no grad)."""
    specs = [
        ("conv.weight", (4, 3, 3, 3), False, 0.2),
        ("bn.weight", (4,), True, 0.1),
        ("bn.bias", (4,), True, 0.1),
        ("fc.weight", (10, 16), False, 0.3),
        ("fc.bias", (10,), True, 0.1),
        ("skip.weight", (6,), False, 0.5),
        ("frozen.weight", (3,), False, 0.5),
        ("big.weight", (40000,), False, 0.05),
    ]
    params = []
    for name, shape, bn, scale in specs:
        value = torch.randn(shape, generator=gen) * scale
        if name == "bn.weight":
            value += 1.0
        grads = [torch.randn(shape, generator=gen) * 0.1 * (1 + step) for step in range(STEPS)]
        if name == "skip.weight":
            grads[1] = None
        if name == "frozen.weight":
            grads = [None] * STEPS
        params.append({"name": name, "shape": list(shape), "bn": bn, "value": value, "grads": grads})
    return params


def run_optimizer(kind, options, lrs, momenta, params):
    tensors = [torch.nn.Parameter(p["value"].clone()) for p in params]
    decay = [t for t, p in zip(tensors, params) if options["decay_bn_and_bias"] or not p["bn"]]
    no_decay = [t for t, p in zip(tensors, params) if not options["decay_bn_and_bias"] and p["bn"]]
    groups = [{"params": decay}] + ([{"params": no_decay, "weight_decay": 0.0}] if no_decay else [])
    if kind == "sgd":
        opt = torch.optim.SGD(groups, lr=lrs[0], momentum=options["momentum"], dampening=options["dampening"],
                              weight_decay=options["weight_decay"], nesterov=options["nesterov"])
    else:
        opt = torch.optim.AdamW(groups, lr=lrs[0], betas=(options["beta1"], options["beta2"]), eps=options["eps"],
                                weight_decay=options["weight_decay"], amsgrad=options["amsgrad"])
    for step in range(STEPS):
        for t, p in zip(tensors, params):
            t.grad = None if p["grads"][step] is None else p["grads"][step].clone()
        for group in opt.param_groups:
            group["lr"] = lrs[step]
            if momenta is not None:
                if kind == "sgd":
                    group["momentum"] = momenta[step]
                else:
                    group["betas"] = (momenta[step], group["betas"][1])
        opt.step()
    return tensors, opt


def optimizer_cases(writer, params):
    sgd_defaults = {"momentum": 0.0, "dampening": 0.0, "weight_decay": 0.0, "nesterov": False,
                    "decay_bn_and_bias": True}
    sgd = [
        ("plain_weight_decay", {"weight_decay": 1e-2}, [0.1, 0.1, 0.1], None),
        ("momentum", {"momentum": 0.9, "weight_decay": 5e-4}, [0.1, 0.1, 0.1], None),
        ("nesterov", {"momentum": 0.9, "weight_decay": 5e-2, "nesterov": True}, [0.1, 0.1, 0.1], None),
        ("momentum_no_bn_bias_decay", {"momentum": 0.9, "weight_decay": 5e-2, "decay_bn_and_bias": False},
         [0.1, 0.1, 0.1], None),
        ("nesterov_no_bn_bias_decay_lr_steps",
         {"momentum": 0.85, "weight_decay": 1e-1, "nesterov": True, "decay_bn_and_bias": False},
         [0.2, 0.05, 0.011], None),
        ("dampening", {"momentum": 0.9, "dampening": 0.3, "weight_decay": 1e-3}, [0.5, 0.3, 0.1], None),
        ("cycled_momentum", {"momentum": 0.95, "weight_decay": 5e-4}, [0.01, 0.02, 0.03], [0.95, 0.9, 0.85]),
    ]
    adamw_defaults = {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 1e-2, "amsgrad": False,
                      "decay_bn_and_bias": True}
    adamw = [
        ("defaults", {}, [1e-3, 1e-3, 1e-3], None),
        ("no_bn_bias_decay", {"weight_decay": 0.1, "decay_bn_and_bias": False}, [1e-2, 5e-3, 2e-3], None),
        ("amsgrad", {"amsgrad": True, "weight_decay": 0.05}, [3e-3, 3e-3, 3e-3], None),
        ("betas_eps", {"beta1": 0.8, "beta2": 0.99, "eps": 1e-6, "weight_decay": 0.0}, [1e-2, 1e-2, 1e-2],
         None),
        ("cycled_beta1", {"weight_decay": 0.01}, [1e-3, 2e-3, 3e-3], [0.95, 0.9, 0.85]),
    ]
    out = {}
    for kind, defaults, cases in (("sgd", sgd_defaults, sgd), ("adamw", adamw_defaults, adamw)):
        out[kind] = []
        for name, overrides, lrs, momenta in cases:
            options = dict(defaults, **overrides)
            tensors, opt = run_optimizer(kind, options, lrs, momenta, params)
            after = {p["name"]: writer.array(t, f"{kind}_{name}_{p['name']}") for t, p in zip(tensors, params)}
            state = {}
            for t, p in zip(tensors, params):
                entries = {}
                for key, value in opt.state.get(t, {}).items():
                    if value is None:
                        continue
                    if key == "step":
                        entries[key] = int(value.item())
                    else:
                        entries[key] = writer.array(value, f"{kind}_{name}_{p['name']}_{key}")
                if entries:
                    state[p["name"]] = entries
            out[kind].append({"case": name, "options": options, "lrs": lrs, "momenta": momenta, "after": after,
                              "state": state})
    return out


def clip_cases(writer, params):
    cases = []
    for max_norm in (0.5, 1e3):
        grads = [None if p["grads"][0] is None else p["grads"][0].clone() for p in params]
        tensors = [torch.nn.Parameter(p["value"].clone()) for p in params]
        total64 = torch.sqrt(sum((g.double() ** 2).sum() for g in grads if g is not None))
        for t, g in zip(tensors, grads):
            t.grad = g
        total = torch.nn.utils.clip_grad_norm_(tensors, max_norm)
        after = {p["name"]: writer.array(t.grad, f"clip_{max_norm}_{p['name']}")
                 for t, p in zip(tensors, params) if t.grad is not None}
        cases.append({"max_norm": max_norm, "total_norm": float(total), "total_norm_f64": float(total64),
                      "grads": after})
    return cases


def loss_cases(writer, gen):
    specs = [
        ("smoothed", 8, 10, 0.1, 3.0),
        ("imagenet_no_smoothing", 5, 1000, 0.0, 4.0),
        ("only_smoothing", 4, 3, 1.0, 2.0),
        ("huge_logits", 3, 7, 0.2, 1e4),
        ("one_class", 2, 1, 0.1, 1.0),
        ("ties", 6, 4, 0.1, None),
    ]
    cases = []
    for name, n, c, eps, scale in specs:
        if scale is None:  # small integers: every row has tied maxima
            logits = torch.randint(0, 2, (n, c), generator=gen).to(torch.float32)
        else:
            logits = (torch.randn((n, c), generator=gen) * scale).to(torch.float32)
        labels = torch.randint(0, c, (n,), generator=gen)
        x64 = logits.double().requires_grad_()
        loss64 = F.cross_entropy(x64, labels, label_smoothing=eps)
        loss64.backward()
        x32 = logits.clone().requires_grad_()
        loss32 = F.cross_entropy(x32, labels, label_smoothing=eps)
        loss32.backward()
        case = {"case": name, "logits": writer.array(logits, f"loss_{name}_logits"), "labels": labels.tolist(),
                "label_smoothing": eps, "loss": float(loss64), "grad": writer.array64(x64.grad, f"loss_{name}_grad"),
                "loss_f32": float(loss32), "grad_f32": writer.array(x32.grad, f"loss_{name}_grad_f32"),
                "correct": int((logits.argmax(1) == labels).sum())}
        if c >= 5 and scale is not None:
            case["top5"] = int((logits.topk(5, 1).indices == labels[:, None]).any(1).sum())
        cases.append(case)
    return cases


SCHEDULE_DEFAULTS = {
    "kind": "constant", "base_lr": 0.1, "steps_per_tick": 1, "step_size": 1, "milestones": [], "gamma": 0.1,
    "t_max": 1, "eta_min": 0.0, "total_steps": 1, "pct_start": 0.3, "anneal_linear": False, "div_factor": 25.0,
    "final_div_factor": 1e4, "three_phase": False, "cycle_momentum": True, "base_momentum": 0.85,
    "max_momentum": 0.95, "warmup_steps": 0, "warmup_start_factor": 0.1,
}


def torch_schedule(spec, n):
    """lr and momentum of optimizer steps 0 .. n-1 under torch's schedulers."""
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=spec["base_lr"], momentum=0.9)
    kind = spec["kind"]

    def main_scheduler():
        if kind == "constant":
            return lr_scheduler.LambdaLR(opt, lambda tick: 1.0)
        if kind == "step":
            return lr_scheduler.StepLR(opt, step_size=spec["step_size"], gamma=spec["gamma"])
        if kind == "multistep":
            return lr_scheduler.MultiStepLR(opt, milestones=spec["milestones"], gamma=spec["gamma"])
        if kind == "cosine":
            return lr_scheduler.CosineAnnealingLR(opt, T_max=spec["t_max"], eta_min=spec["eta_min"])
        return lr_scheduler.OneCycleLR(
            opt, max_lr=spec["base_lr"], total_steps=spec["total_steps"], pct_start=spec["pct_start"],
            anneal_strategy="linear" if spec["anneal_linear"] else "cos", cycle_momentum=spec["cycle_momentum"],
            base_momentum=spec["base_momentum"], max_momentum=spec["max_momentum"], div_factor=spec["div_factor"],
            final_div_factor=spec["final_div_factor"], three_phase=spec["three_phase"])

    warmup, per_tick = spec["warmup_steps"], spec["steps_per_tick"]
    if warmup > 0:
        warm = lr_scheduler.LinearLR(opt, start_factor=spec["warmup_start_factor"], end_factor=1.0,
                                     total_iters=warmup)
        main = main_scheduler()
        sequential = lr_scheduler.SequentialLR(opt, [warm, main], milestones=[warmup])
    else:
        main = main_scheduler()
    lrs, momenta = [], []
    for step in range(n):
        lrs.append(opt.param_groups[0]["lr"])
        momenta.append(opt.param_groups[0]["momentum"])
        opt.step()
        following = step + 1
        if following <= warmup:
            sequential.step()  # at the milestone this restarts `main` with main.step(0)
        elif (following - warmup) % per_tick == 0:
            main.step()
    return lrs, momenta


def schedule_cases():
    specs = [
        ("constant_warmup", 30, {"warmup_steps": 5, "warmup_start_factor": 0.1}),
        ("step", 30, {"kind": "step", "step_size": 4, "gamma": 0.5}),
        ("step_per_epoch", 30, {"kind": "step", "steps_per_tick": 3, "step_size": 2, "gamma": 0.1}),
        ("multistep", 30, {"kind": "multistep", "milestones": [5, 12, 12, 20], "gamma": 0.3}),
        ("multistep_per_epoch_warmup", 30, {"kind": "multistep", "milestones": [3, 7], "gamma": 0.1,
                                            "steps_per_tick": 2, "warmup_steps": 6, "warmup_start_factor": 0.25}),
        ("cosine_past_t_max", 30, {"kind": "cosine", "t_max": 20, "eta_min": 1e-4}),
        ("cosine_warmup", 30, {"kind": "cosine", "t_max": 25, "warmup_steps": 5, "warmup_start_factor": 0.01}),
        ("cosine_per_epoch_warmup", 30, {"kind": "cosine", "base_lr": 0.4, "steps_per_tick": 4, "t_max": 6,
                                         "eta_min": 1e-3, "warmup_steps": 4}),
        ("onecycle", 30, {"kind": "onecycle", "total_steps": 30}),
        ("onecycle_three_phase_linear", 30,
         {"kind": "onecycle", "total_steps": 30, "pct_start": 0.25, "three_phase": True, "anneal_linear": True,
          "div_factor": 10.0, "final_div_factor": 100.0, "base_momentum": 0.8, "max_momentum": 0.9}),
        ("onecycle_per_epoch", 30, {"kind": "onecycle", "base_lr": 1.0, "steps_per_tick": 3, "total_steps": 10,
                                    "pct_start": 0.4}),
        ("onecycle_no_momentum_cycle", 20, {"kind": "onecycle", "total_steps": 20, "cycle_momentum": False}),
    ]
    cases = []
    for name, n, overrides in specs:
        spec = dict(SCHEDULE_DEFAULTS, **overrides)
        lrs, momenta = torch_schedule(spec, n)
        cases.append({"case": name, "spec": spec, "lrs": lrs, "momenta": momenta})
    return cases


def main(out_dir):
    if os.path.exists(os.path.join(out_dir, "manifest.json")):
        return
    warnings.simplefilter("ignore")
    tmp = f"{out_dir}.tmp.{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    writer = Writer(tmp)
    gen = torch.Generator().manual_seed(2024)
    params = make_params(gen)
    manifest = {
        "torch": torch.__version__,
        "params": [{"name": p["name"], "shape": p["shape"], "is_bn_or_bias": p["bn"],
                    "value": writer.array(p["value"], f"param_{p['name']}"),
                    "grads": [None if g is None else writer.array(g, f"grad{s}_{p['name']}")
                              for s, g in enumerate(p["grads"])]} for p in params],
        "clip": clip_cases(writer, params),
        "loss": loss_cases(writer, gen),
        "schedules": schedule_cases(),
    }
    manifest.update(optimizer_cases(writer, params))
    with open(os.path.join(tmp, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    try:
        os.rename(tmp, out_dir)
    except OSError:
        if not os.path.exists(os.path.join(out_dir, "manifest.json")):
            raise
        shutil.rmtree(tmp)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
