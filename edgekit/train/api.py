"""train_run: the Python API behind `edgekit train` — resolve model and data, train, write the run folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

from ..data import apply_normalization, compute_normalization, load_dataset
from ..errors import EdgekitError
from ..fsutil import read_json, write_json
from ..manifest import new_manifest, now
from ..profile import profile_model
from ..recipes import TRAIN_DEFAULTS, find_recipe
from ..runs import CHECKPOINT_DIR, write_run_files
from ..spec import ModelSpec
from ..zoo import build_model
from ..zoo.user import is_user_ref, normalize_ref
from .distributed import barrier, init_distributed
from .loop import TrainConfig, fit, resolve_device
from .summary import run_metrics

ARGS_FILE = "train_args.json"


def resolve_spec_base(model: str, input_shape, dataset: str | None) -> tuple[ModelSpec, dict, str]:
    """(spec without data fields, recipe training defaults, data-set spec) for a zoo name, recipe or user module."""
    if is_user_ref(model):
        if input_shape is None:
            raise EdgekitError(f"--input-shape is required for your own module {model}", "pass e.g. --input-shape 3,32,32")
        spec = ModelSpec(name=model.rpartition(":")[2], source="user", arch=normalize_ref(model), input_shape=list(input_shape))
        return spec, dict(TRAIN_DEFAULTS), dataset or "digits"
    recipe = find_recipe(model)
    spec = ModelSpec(name=recipe.name, source="zoo", arch=recipe.arch, task=recipe.task,
                     input_shape=list(input_shape or recipe.input_shape), kwargs=dict(recipe.kwargs))
    return spec, dict(recipe.train), dataset or recipe.dataset


def check_input_shape(model: torch.nn.Module, spec: ModelSpec) -> None:
    try:
        with torch.no_grad():
            out = model.eval()(torch.zeros(2, *spec.input_shape))
    except Exception as e:
        reason = str(e).strip().splitlines()[0][:160]
        raise EdgekitError(f"model {spec.name} cannot take input shape {tuple(spec.input_shape)}: {reason}",
                           "pass an --input-shape the model accepts (see `edgekit models`)") from None
    if spec.task == "classification" and (out.ndim != 2 or out.shape[1] != spec.num_classes):
        raise EdgekitError(f"model {spec.name} outputs shape {tuple(out.shape[1:])} but the data set has {spec.num_classes} classes",
                           "make the model output one logit per class (it receives num_classes if its constructor takes it)")


def _default_out(name: str) -> Path:
    base = Path("runs") / name
    candidate, n = base, 2
    while candidate.exists():
        candidate, n = base.with_name(f"{base.name}-{n}"), n + 1
    return candidate


def prepare(model: str, dataset: str | None, input_shape, seed: int, overrides: dict):
    spec, train_defaults, data_spec = resolve_spec_base(model, input_shape, dataset)
    bundle = load_dataset(data_spec, spec.input_shape, seed=seed, task=spec.task)
    spec.num_classes = bundle.num_classes if spec.task == "classification" else None
    spec.labels = bundle.labels if spec.task == "classification" else []
    spec.normalization = compute_normalization(bundle.x["train"])
    spec.dataset = bundle.record()
    settings = {**train_defaults, **{k: v for k, v in overrides.items() if v is not None}}
    config = TrainConfig(epochs=int(settings["epochs"]), batch_size=int(settings["batch_size"]), lr=float(settings["lr"]),
                         weight_decay=float(settings["weight_decay"]), label_smoothing=float(settings["label_smoothing"]),
                         seed=seed, device=settings.get("device", "auto"), amp=bool(settings.get("amp", True)))
    return spec, bundle, config


def train_run(model: str = "digits-cnn", dataset: str | None = None, *, out: Path | None = None, input_shape=None,
              seed: int = 0, epochs=None, batch_size=None, lr=None, weight_decay=None, device: str = "auto",
              amp: bool = True, resume: Path | None = None, progress: bool = True) -> Path:
    """Train and write a run folder; with `resume`, continue that folder's interrupted run."""
    if resume is not None:
        out = Path(resume)
        args_path = out / CHECKPOINT_DIR / ARGS_FILE
        if not args_path.is_file():
            raise EdgekitError(f"{out} has no interrupted training to resume",
                               "pass the --out folder of a `edgekit train` run that was stopped before it finished")
        args = read_json(args_path)
        device = device if device != "auto" else args["device"]
        model, dataset, input_shape, seed = args["model"], args["dataset"], args["input_shape"], args["seed"]
        overrides = {**args["overrides"], "device": device}
    else:
        overrides = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "weight_decay": weight_decay,
                     "device": device, "amp": amp}
    resolve_device(device)  # fail on a bad --device before reading any data
    spec, bundle, config = prepare(model, dataset, input_shape, seed, overrides)
    torch.manual_seed(seed)
    net = build_model(spec)
    check_input_shape(net, spec)

    ctx = init_distributed(resolve_device(config.device).type)
    if resume is None:
        out = Path(out) if out else _default_out(spec.name)
        if out.exists() and any(out.iterdir()):
            raise EdgekitError(f"output folder {out} already exists and is not empty",
                               f"choose another --out, or continue an interrupted run with --resume {out}")
    barrier(ctx)  # every rank has settled on `out` before rank 0 creates it
    ckpt = out / CHECKPOINT_DIR
    started = now()
    if ctx.is_main and resume is None:
        ckpt.mkdir(parents=True, exist_ok=True)
        write_json(ckpt / ARGS_FILE, {"model": model, "dataset": dataset, "input_shape": list(spec.input_shape),
                                      "seed": seed, "device": device, "started": started,
                                      "overrides": {k: v for k, v in overrides.items() if k != "device"}})
    barrier(ctx)
    started = read_json(ckpt / ARGS_FILE)["started"]
    x = {s: apply_normalization(v, spec.normalization) for s, v in bundle.x.items()}
    result = fit(net, spec.task, x, bundle.y, config, checkpoint_dir=ckpt, progress=progress, label=f"train {spec.name}")
    metrics = run_metrics(result, spec, x, bundle.y, config)
    if ctx.is_main:
        net_cpu = result.model.to("cpu")
        metrics["cost"] = profile_model(net_cpu, spec.input_shape).to_json()
        manifest = new_manifest("train", started=started)
        write_run_files(out, net_cpu, spec, metrics, manifest)
        shutil.rmtree(ckpt, ignore_errors=True)
    barrier(ctx)
    return out
