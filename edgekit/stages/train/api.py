"""train_run: the Python API behind `edgekit train` — resolve model and data, train, write the run folder."""

from __future__ import annotations

import re
import shutil
from contextlib import nullcontext
from pathlib import Path

import torch
import torch.nn as nn

from ...checkpoints import read_checkpoint
from ...contracts import ModelSpec
from ...data import Splits
from ...data.loaders import default_model, input_shape_of
from ...data.user_preprocess import given, load_as_given
from ...errors import EdgekitError, blame, forward_failure
from ...limits import check_shape, check_train_values
from ...recipes import TRAIN_DEFAULTS, find_recipe
from ...runs import CHECKPOINT_DIR, Run, refuse_links, write_run_files
from ...tasks import get_task
from ...util.fsutil import write_json
from ...util.lock import writing
from ...util.manifest import new_manifest, now
from ...zoo import build_model
from ...zoo.user import code_record, construct, is_user_ref, resolve_named
from .checkpoint import ARGS_FILE, CorruptState, TrainArgs, check_state, load_init, read_args, save_init, write_args
from .distributed import barrier, init_distributed, is_main_process
from .finetune import freeze_epochs, load_pretrained, plan_freeze
from .loop import TrainConfig, fit, resolve_device
from .summary import run_metrics


def _shape_for(spec_data: str, input_shape, what: str) -> list[int]:
    if input_shape is not None:
        return list(input_shape)
    shape = input_shape_of(spec_data)
    if shape is None:
        raise EdgekitError(
            f"--input-shape is required for {what}: the data set '{spec_data}' fixes none", "pass e.g. --input-shape 3,64,64"
        )
    try:
        return check_shape(shape)
    except ValueError as e:
        raise EdgekitError(f"the samples of '{spec_data}' have shape {tuple(shape)}, which {e}", "pass a smaller --input-shape") from None


def resolve_spec_base(
    model, input_shape, dataset: str | None, model_args: dict | None = None, *, named_by: str | None = None, trust_code: bool = False
):
    """(spec without data fields, training defaults, data-set spec, user code bytes) for a zoo name, recipe,
    user reference or nn.Module instance. `named_by`: the file that named `model` (None: the user did), so user
    code follows the trust rule."""
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
        res = resolve_named(model, named_by=named_by, trust_code=trust_code, kwargs=model_args)
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
    if is_user_ref(recipe.arch):  # the recipe file names this code, whoever named the recipe
        kwargs = {**recipe.kwargs, **model_args}
        res = resolve_named(recipe.arch, named_by=recipe.path or str(model), trust_code=trust_code, kwargs=kwargs)
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
        mine, where = blame(e, model)
        if not mine:  # edgekit's own code failed, not the model on this shape
            raise forward_failure(e, model, fix="") from e
        reason = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        raise EdgekitError(
            f"model {spec.name} cannot take input shape {tuple(spec.input_shape)} ({where}): {reason}",
            "pass an --input-shape the model accepts (see `edgekit models`)",
        ) from None
    get_task(spec.task).check_output(out, spec)  # the task names the outputs it scores


def _default_out(name: str) -> Path:
    """runs/<name>, the name made a plain folder name (timm's hf-hub:org/model), never '..' or hidden."""
    from ...contracts import check_plain_name

    folder = re.sub(r"[^A-Za-z0-9_.+-]", "_", name)
    try:
        check_plain_name(folder, "the model name")
    except ValueError as e:
        raise EdgekitError(f"{e}, so it cannot name the default output folder runs/<name>", "pass --out") from None
    base = Path("runs") / folder
    candidate, n = base, 2
    while candidate.exists():
        candidate, n = base.with_name(f"{base.name}-{n}"), n + 1
    return candidate


def prepare(
    model,
    dataset,
    input_shape,
    seed: int,
    overrides: dict,
    model_args: dict | None = None,
    *,
    named_by=None,
    trust_code=False,
    preprocess: dict | None = None,
    labels: list[str] | None = None,
    where: str = "the preprocessing given to train",
):
    """`preprocess` (checked by user_preprocess.given; `where` names it) and `labels`: the user's, not the data set's."""
    spec, train_defaults, data_spec, code, res = resolve_spec_base(
        model, input_shape, dataset, model_args, named_by=named_by, trust_code=trust_code
    )
    bundle, norm, pipeline = load_as_given(data_spec, spec, seed=seed, preprocess=preprocess, labels=labels, where=where)
    task = get_task(bundle.task)  # the data can make a reconstruction model an anomaly detector
    spec = spec.replace(
        **{
            "task": bundle.task,
            "num_classes": bundle.num_classes if task.has_classes else None,
            "labels": (labels or bundle.labels) if task.has_classes else [],
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
        warmup_epochs=min(int(settings.get("warmup_epochs", 0)), int(settings["epochs"]) - 1),  # a short --epochs keeps one
        ema=bool(settings.get("ema", False)),
    )
    return spec, bundle, Splits.of(bundle, norm), config, code, res


def _check_new_out(out: Path) -> None:
    """The same rule for an explicit and a default --out: a new or empty folder, never the user's files."""
    if out.exists() and not out.is_dir():
        raise EdgekitError(f"{out} is a file, not a folder", "choose another --out")
    if out.is_dir() and any(out.iterdir()):
        raise EdgekitError(
            f"output folder {out} already exists and is not empty",
            f"choose another --out, or continue an interrupted run with --resume {out}",
        )


def _recorded_model(model, spec: ModelSpec) -> str:
    """What train_args.json names, so a resume from another working folder finds the same code and recipe."""
    if not isinstance(model, str) or is_user_ref(model):
        return spec.arch  # a file reference as its absolute path (what the trust store knows)
    return str(Path(model).resolve()) if model.endswith(".toml") else model


def _resume_args(out: Path) -> TrainArgs:
    """An interrupted run's recorded arguments, validated; its folder holds its own files (no links followed)."""
    refuse_links(out)
    ckpt = out / CHECKPOINT_DIR
    if not (ckpt / ARGS_FILE).is_file():
        raise EdgekitError(
            f"{out} has no interrupted training to resume",
            "pass the --out folder of a `edgekit train` run that was stopped before it finished",
        )
    args = read_args(ckpt)
    check_state(ckpt)  # a corrupt state is one line now, not a failed run after loading the data
    return args


def _mark_failed(out: Path, started: str, failure: str) -> None:
    """A crashed run says so in its manifest; the checkpoint stays for --resume."""
    manifest = new_manifest("train", started=started, status="failed", failure=failure[:300])
    try:
        write_json(out / "manifest.json", manifest.model_dump(mode="json"))
    except OSError:
        pass


def train_run(
    model=None,
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
    trust_code: bool = False,
    named_by: str | None = None,
    weights=None,
    weights_key: str | None = None,
    freeze: bool | int = False,
    preprocess=None,
    labels: list[str] | None = None,
    say=None,
) -> Run:
    """Train and write a run folder; with `resume`, continue that folder's interrupted or failed run.
    `named_by`: the file that named `model` (a pipeline), so user code it names follows the trust rule, like the
    code a resumed run's train_args.json names; `trust_code`: the user allows it. `weights`: a weights file to
    fine-tune from (finetune.py; `weights_key`: its entry), `freeze`: train the classifier alone (True: every epoch,
    N: the first N); `preprocess`/`labels`: the user's, as for import; `say`: where notes go."""
    say = say or (lambda message: None)
    where = str(preprocess) if isinstance(preprocess, (str, Path)) else "the preprocessing given to train"
    if model is None and resume is None:
        model = default_model(dataset)  # a detection data set trains the default detector
    if resume is not None:
        out = Path(resume)
        args = _resume_args(out)
        device = device if device != "auto" else args.device
        model, dataset, input_shape, seed = args.model, args.dataset, args.input_shape, args.seed
        model_args, preprocess, labels, freeze = args.model_args, args.preprocess, args.labels, args.freeze or False
        overrides = {**args.overrides.model_dump(), "device": device}
        named_by = str(out / CHECKPOINT_DIR / ARGS_FILE)  # what it names is the file's word, not the user's
        where = f"{out / CHECKPOINT_DIR / ARGS_FILE} (preprocess)"
    else:
        overrides = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "weight_decay": weight_decay, "device": device, "amp": amp}
        if out is not None:
            _check_new_out(Path(out))
        if freeze and weights is None:
            raise EdgekitError(
                "--freeze keeps pretrained weights fixed, and no --weights were given", "pass --weights FILE, or drop --freeze"
            )
    check_train_values(seed=seed, input_shape=input_shape, model_args=model_args)  # edgekit/limits.py, before any work
    resolve_device(device)  # fail on a bad --device before reading any data
    TrainConfig(**{k: v for k, v in overrides.items() if v is not None and k in TrainConfig.__dataclass_fields__})
    freeze_epochs(freeze, 1)  # a bad value is one line before any work
    preprocess = given(preprocess, where)
    checkpoint = read_checkpoint(weights, weights_key) if weights is not None and resume is None else None
    spec, bundle, data, config, code, res = prepare(
        model,
        dataset,
        input_shape,
        seed,
        overrides,
        model_args,
        named_by=named_by,
        trust_code=trust_code,
        preprocess=preprocess,
        labels=labels,
        where=where,
    )
    frozen = freeze_epochs(freeze, config.epochs)
    torch.manual_seed(seed)
    if isinstance(model, nn.Module):
        net = model
    elif res is not None:
        net = construct(res, spec.arch, num_classes=spec.num_classes, input_shape=spec.input_shape, kwargs=spec.kwargs)
    else:
        net = build_model(spec)
    check_input_shape(net, spec)
    record = load_pretrained(net, checkpoint, spec, say) if checkpoint else args.weights if resume is not None else None
    plan = plan_freeze(net, spec, frozen) if frozen else None

    ctx = init_distributed(resolve_device(config.device).type)
    if plan and ctx.enabled:  # DDP fixes which parameters take gradients when it wraps the model
        raise EdgekitError("--freeze is not supported under torchrun", "fine-tune on one device, or drop --freeze")
    out = Path(out) if out else _default_out(spec.name)
    barrier(ctx)  # every rank has settled on `out` before rank 0 creates it
    # One writer per folder: a second `train --out SAME` is one line naming the first, never a crash in its files.
    with writing(out) if is_main_process() else nullcontext():
        if resume is None and ctx.is_main:
            _check_new_out(out)  # again, under the lock: another writer may have filled it meanwhile
        return _train_into(
            out,
            net,
            spec,
            data,
            config,
            code,
            res,
            ctx,
            resume=resume,
            progress=progress,
            freeze=plan,
            args=TrainArgs(
                model=_recorded_model(model, spec),
                dataset=dataset,
                input_shape=list(spec.input_shape),
                seed=seed,
                device=device,
                started=now(),
                model_args=model_args or {},
                overrides={k: v for k, v in overrides.items() if k != "device"},
                weights=record,
                freeze=frozen or None,
                preprocess=preprocess,
                labels=labels,
            ),
        )


def _train_into(out: Path, net, spec, data, config, code, res, ctx, *, resume, progress: bool, freeze, args: TrainArgs) -> Run:
    ckpt = out / CHECKPOINT_DIR
    if ctx.is_main and resume is None:
        ckpt.mkdir(parents=True, exist_ok=True)
        write_args(ckpt, args)
        if args.weights is not None:  # the pretrained start, inside the run: a resume never reopens the user's file
            save_init(ckpt, net.state_dict())
    barrier(ctx)
    if resume is not None and args.weights is not None:
        load_init(ckpt, net)
    started = read_args(ckpt).started
    try:
        result = fit(net, spec.task, data, config, checkpoint_dir=ckpt, progress=progress, label=f"train {spec.name}", freeze=freeze)
    except CorruptState:  # the run did not fail: its saved state cannot be read back (said in one line)
        raise
    except Exception as e:  # Ctrl-C is not a failure: the checkpoint resumes it
        if ctx.is_main:
            _mark_failed(out, started, e.message if isinstance(e, EdgekitError) else f"{type(e).__name__}: {e}")
        raise
    metrics = run_metrics(result, spec, data, config)
    manifest = new_manifest("train", started=started, weights=args.weights)
    if ctx.is_main:
        net_cpu = result.model.to("cpu")
        write_run_files(out, net_cpu, spec, metrics, manifest, code=code)
        shutil.rmtree(ckpt, ignore_errors=True)
        said = [res.warning] if res is not None and res.warning else []  # this machine's trust store, not the run's
        metrics = metrics.replace(**{"file_bytes": (out / "model.safetensors").stat().st_size, "warnings": [*metrics.warnings, *said]})
    barrier(ctx)
    return Run(path=out, model=result.model.to("cpu").eval(), spec=spec, metrics=metrics, manifest=manifest)
