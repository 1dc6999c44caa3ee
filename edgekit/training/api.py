"""train_run: the Python API behind `edgekit train` — resolve model and data, train, write the run folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from ..contracts import ModelSpec
from ..data import Splits, compute_normalization, load_dataset
from ..data.loaders import input_shape_of
from ..data.normalize import normalize_step
from ..errors import EdgekitError
from ..fsutil import read_json, write_json
from ..manifest import new_manifest, now
from ..recipes import TRAIN_DEFAULTS, find_recipe
from ..runs import CHECKPOINT_DIR, Run, write_run_files
from ..tasks import get_task
from ..zoo import build_model
from ..zoo.user import code_record, construct, is_user_ref, resolve
from .distributed import barrier, init_distributed
from .loop import TrainConfig, fit, resolve_device
from .summary import run_metrics

ARGS_FILE = "train_args.json"


def _shape_for(spec_data: str, input_shape, what: str) -> list[int]:
    if input_shape is not None:
        return list(input_shape)
    shape = input_shape_of(spec_data)
    if shape is None:
        raise EdgekitError(
            f"--input-shape is required for {what}: the data set '{spec_data}' fixes none", "pass e.g. --input-shape 3,64,64"
        )
    return list(shape)


def resolve_spec_base(model, input_shape, dataset: str | None, model_args: dict | None = None):
    """(spec without data fields, training defaults, data-set spec, user code bytes) for a zoo name, recipe,
    user reference or nn.Module instance."""
    model_args = dict(model_args or {})
    if isinstance(model, nn.Module):
        data_spec = dataset or "digits"
        cls = type(model)
        spec = ModelSpec(
            name=cls.__name__,
            source="user",
            arch=f"{cls.__module__}:{cls.__qualname__}",
            input_shape=_shape_for(data_spec, input_shape, cls.__name__),
        )
        return spec, dict(TRAIN_DEFAULTS), data_spec, None, None
    if is_user_ref(model):
        data_spec = dataset or "digits"
        res = resolve(model)
        record, code = code_record(res, model)
        name = res.entry if model.split(":")[0] != "timm" else model.split(":", 1)[1]
        spec = ModelSpec(
            name=name,
            source="user",
            arch=model if not model.split(":")[0].endswith(".py") else f"{res.source}:{res.entry}",
            input_shape=_shape_for(data_spec, input_shape, model),
            kwargs=model_args,
            code=record,
        )
        return spec, dict(TRAIN_DEFAULTS), data_spec, code, res
    recipe = find_recipe(model)
    data_spec = dataset or recipe.dataset
    shape = list(input_shape or recipe.input_shape)
    if is_user_ref(recipe.arch):
        res = resolve(recipe.arch)
        record, code = code_record(res, recipe.arch)
        spec = ModelSpec(
            name=recipe.name,
            source="user",
            arch=recipe.arch,
            task=recipe.task,
            input_shape=shape,
            kwargs={**recipe.kwargs, **model_args},
            code=record,
        )
        return spec, recipe.train_settings, data_spec, code, res
    spec = ModelSpec(
        name=recipe.name, source="zoo", arch=recipe.arch, task=recipe.task, input_shape=shape, kwargs={**recipe.kwargs, **model_args}
    )
    return spec, recipe.train_settings, data_spec, None, None


def check_input_shape(model: nn.Module, spec: ModelSpec) -> None:
    try:
        with torch.no_grad():
            out = model.eval()(torch.zeros(2, *spec.input_shape))
    except Exception as e:
        reason = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        raise EdgekitError(
            f"model {spec.name} cannot take input shape {tuple(spec.input_shape)}: {reason}",
            "pass an --input-shape the model accepts (see `edgekit models`)",
        ) from None
    task = get_task(spec.task)
    if task.has_classes and (out.ndim != 2 or out.shape[1] != spec.num_classes):
        raise EdgekitError(
            f"model {spec.name} outputs shape {tuple(out.shape[1:])} but the data set has {spec.num_classes} classes",
            "make it output one logit per class: a factory taking num_classes (or **kwargs) gets it; "
            "otherwise pass --model-arg num_classes=N or your constructor's own name for it",
        )
    if not task.has_classes and tuple(out.shape[1:]) not in (tuple(spec.input_shape), (int(np.prod(spec.input_shape)),)):
        raise EdgekitError(
            f"model {spec.name} outputs shape {tuple(out.shape[1:])}; a {task.name} model reproduces its input {tuple(spec.input_shape)}",
            "make the model output its input's shape",
        )


def _default_out(name: str) -> Path:
    base = Path("runs") / name.replace("/", "_")
    candidate, n = base, 2
    while candidate.exists():
        candidate, n = base.with_name(f"{base.name}-{n}"), n + 1
    return candidate


def prepare(model, dataset, input_shape, seed: int, overrides: dict, model_args: dict | None = None):
    spec, train_defaults, data_spec, code, res = resolve_spec_base(model, input_shape, dataset, model_args)
    bundle = load_dataset(data_spec, spec.input_shape, seed=seed, task=spec.task)
    task = get_task(bundle.task)  # the data can make a reconstruction model an anomaly detector
    norm = compute_normalization(bundle.x["train"])
    pipeline = {**bundle.pipeline, "steps": [*bundle.pipeline["steps"], normalize_step(norm)]}
    spec = spec.replace(
        **{
            "task": bundle.task,
            "num_classes": bundle.num_classes if task.has_classes else None,
            "labels": bundle.labels if task.has_classes else [],
            "normalization": norm,
            "preprocess": pipeline,
            "dataset": bundle.record(),
        }
    )
    settings = {**train_defaults, **{k: v for k, v in overrides.items() if v is not None}}
    config = TrainConfig(
        epochs=int(settings["epochs"]),
        batch_size=int(settings["batch_size"]),
        lr=float(settings["lr"]),
        weight_decay=float(settings["weight_decay"]),
        label_smoothing=float(settings["label_smoothing"]),
        seed=seed,
        device=settings.get("device", "auto"),
        amp=bool(settings.get("amp", True)),
    )
    return spec, bundle, Splits.of(bundle, norm), config, code, res


def _mark_failed(out: Path, started: str, failure: str) -> None:
    """A crashed run says so in its manifest; the checkpoint stays for --resume."""
    manifest = new_manifest("train", started=started, status="failed", failure=failure[:300])
    try:
        write_json(out / "manifest.json", manifest.model_dump(mode="json"))
    except OSError:
        pass


def train_run(
    model="digits-cnn",
    dataset: str | None = None,
    *,
    out: Path | None = None,
    input_shape=None,
    seed: int = 0,
    epochs=None,
    batch_size=None,
    lr=None,
    weight_decay=None,
    device: str = "auto",
    amp: bool = True,
    resume: Path | None = None,
    progress: bool = True,
    model_args: dict | None = None,
) -> Run:
    """Train and write a run folder; with `resume`, continue that folder's interrupted or failed run."""
    if resume is not None:
        out = Path(resume)
        args_path = out / CHECKPOINT_DIR / ARGS_FILE
        if not args_path.is_file():
            raise EdgekitError(
                f"{out} has no interrupted training to resume",
                "pass the --out folder of a `edgekit train` run that was stopped before it finished",
            )
        args = read_json(args_path)
        device = device if device != "auto" else args["device"]
        model, dataset, input_shape, seed = args["model"], args["dataset"], args["input_shape"], args["seed"]
        model_args = args.get("model_args") or {}
        overrides = {**args["overrides"], "device": device}
    else:
        overrides = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "weight_decay": weight_decay, "device": device, "amp": amp}
        if out is not None and Path(out).exists() and not Path(out).is_dir():
            raise EdgekitError(f"{out} is a file, not a folder", "choose another --out")
        if out is not None and Path(out).is_dir() and any(Path(out).iterdir()):
            raise EdgekitError(
                f"output folder {out} already exists and is not empty",
                f"choose another --out, or continue an interrupted run with --resume {out}",
            )
    resolve_device(device)  # fail on a bad --device before reading any data
    TrainConfig(**{k: v for k, v in overrides.items() if v is not None and k in TrainConfig.__dataclass_fields__})
    spec, bundle, data, config, code, res = prepare(model, dataset, input_shape, seed, overrides, model_args)
    torch.manual_seed(seed)
    if isinstance(model, nn.Module):
        net = model
    elif res is not None:
        net = construct(res, spec.arch, num_classes=spec.num_classes, input_shape=spec.input_shape, kwargs=spec.kwargs)
    else:
        net = build_model(spec)
    check_input_shape(net, spec)

    ctx = init_distributed(resolve_device(config.device).type)
    out = Path(out) if out else _default_out(spec.name)
    barrier(ctx)  # every rank has settled on `out` before rank 0 creates it
    ckpt = out / CHECKPOINT_DIR
    started = now()
    if ctx.is_main and resume is None:
        ckpt.mkdir(parents=True, exist_ok=True)
        write_json(
            ckpt / ARGS_FILE,
            {
                "model": model if isinstance(model, str) else spec.arch,
                "dataset": dataset,
                "input_shape": list(spec.input_shape),
                "seed": seed,
                "device": device,
                "started": started,
                "model_args": model_args or {},
                "overrides": {k: v for k, v in overrides.items() if k != "device"},
            },
        )
    barrier(ctx)
    started = read_json(ckpt / ARGS_FILE)["started"]
    try:
        result = fit(net, spec.task, data, config, checkpoint_dir=ckpt, progress=progress, label=f"train {spec.name}")
    except Exception as e:  # Ctrl-C is not a failure: the checkpoint resumes it
        if ctx.is_main:
            _mark_failed(out, started, e.message if isinstance(e, EdgekitError) else f"{type(e).__name__}: {e}")
        raise
    metrics = run_metrics(result, spec, data, config)
    manifest = new_manifest("train", started=started)
    if ctx.is_main:
        net_cpu = result.model.to("cpu")
        write_run_files(out, net_cpu, spec, metrics, manifest, code=code)
        shutil.rmtree(ckpt, ignore_errors=True)
        metrics = metrics.replace(**{"file_bytes": (out / "model.safetensors").stat().st_size})
    barrier(ctx)
    return Run(path=out, model=result.model.to("cpu").eval(), spec=spec, metrics=metrics, manifest=manifest)
