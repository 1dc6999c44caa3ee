"""adopt_run: a model trained elsewhere (architecture + weights) becomes a run folder that compress, export and
bench take like any other — scored on the data set's test split, with the preprocessing and label order it was
trained with. Nothing is trained. The user-facing import of checkpoints builds on this.

The preprocessing is the data set's own (as `edgekit train` records it) unless `preprocess` says otherwise:
  {"mean": [...], "std": [...]}   the normalisation the model was trained with (else: from the train split)
  {"scale": 1/255}                the factor raw values were scaled by (replaces the data set's)
  {"resize": "nearest"}           how images were resized to the model's input ("bilinear" or "nearest")
  {"steps": [...]}                every step before the normalisation (edgekit/device/preprocess.py ops)
The result is checked by the device's own validator: what the device will run is what is recorded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from ..contracts import Cost, Metrics
from ..data import Splits, compute_normalization
from ..data.loaders import load_dataset, read_fingerprinted
from ..data.normalize import normalize_step
from ..device import preprocess as device_preprocess
from ..errors import EdgekitError
from ..limits import check_normalization, check_train_values
from ..nn.evaluate import predict
from ..nn.profile import profile_model
from ..nn.weights import check_weights
from ..recipes import TRAIN_DEFAULTS
from ..runs import Run, write_run_files
from ..tasks import get_task
from ..util.lock import writing
from ..util.manifest import new_manifest, now
from ..zoo import build_model
from ..zoo.user import construct
from .train.api import _check_new_out, _default_out, check_input_shape, resolve_spec_base
from .train.loop import TrainConfig
from .train.summary import quality_warnings

PREPROCESS_KEYS = ("mean", "std", "scale", "resize", "steps")
PREPROCESS_FIX = "give preprocess={'mean': [...], 'std': [...], 'scale': 1/255, 'resize': 'bilinear', 'steps': [...]} (each optional)"
WEIGHTS_FIX = "pass the state dict the model was trained to (model.state_dict() of the same architecture)"


def adopt_run(
    model,
    weights: dict | None = None,
    dataset: str | None = None,
    *,
    preprocess: dict | None = None,
    labels: list[str] | None = None,
    input_shape=None,
    task: str | None = None,
    out: Path | None = None,
    seed: int = 0,
    model_args: dict | None = None,
    trust_code: bool = False,
) -> Run:
    """`model`: an nn.Module holding its weights (or given `weights`), or a zoo name / file.py:Class /
    package.module:factory / timm:NAME built here and given `weights` (a state dict of tensors). `dataset`: the data
    it is scored on (split by `seed`, as training would); `labels`: its class names in its output order; `task`: what
    the model does, when its recipe does not say (a user's module is a classifier unless told)."""
    started = now()
    check_train_values(seed=seed, input_shape=input_shape, model_args=model_args)  # edgekit/limits.py, before any work
    if out is not None:
        _check_new_out(Path(out))
    if weights is not None:
        _check_state_dict(weights)
    elif not isinstance(model, nn.Module):
        raise EdgekitError(f"adopting '{model}' needs its trained weights", WEIGHTS_FIX.replace("pass", "pass weights=", 1))
    spec, _, data_spec, code, res = resolve_spec_base(model, input_shape, dataset, model_args, trust_code=trust_code)
    if task is not None:
        spec = spec.replace(task=get_task(task).name)
    _check_preprocess(preprocess)
    source, fingerprint = read_fingerprinted(data_spec)
    steps = _steps(preprocess or {}, source, spec.input_shape)
    bundle = load_dataset(data_spec, spec.input_shape, seed=seed, task=spec.task, source=source, steps=steps, fingerprint=fingerprint)
    kind = get_task(bundle.task)  # the data can make a reconstruction model an anomaly detector
    bundle = bundle.in_order(_label_order(labels, bundle.labels, kind, data_spec))
    norm = _normalization(preprocess or {}, bundle.x["train"], spec.input_shape)
    pipeline = {**bundle.pipeline, "steps": [*bundle.pipeline["steps"], normalize_step(norm)]}
    try:
        device_preprocess.validate(pipeline)  # the device's own check: what it will run is what is recorded
    except ValueError as e:
        raise EdgekitError(f"the preprocessing given to adopt: {e}", PREPROCESS_FIX) from None
    spec = spec.replace(
        **{
            "task": bundle.task,
            "num_classes": bundle.num_classes if kind.has_classes else None,
            "labels": (labels or bundle.labels) if kind.has_classes else [],
            "normalization": norm,
            "preprocess": pipeline,
            "dataset": bundle.record(),
        }
    )
    net = _network(model, weights, spec, res)
    check_input_shape(net, spec)
    metrics = _score(net, spec, kind, Splits.of(bundle, norm), seed)
    manifest = new_manifest("adopt", started=started)
    out = Path(out) if out else _default_out(spec.name)
    with writing(out):  # one writer per folder, as for train
        _check_new_out(out)
        write_run_files(out, net, spec, metrics, manifest, code=code)
    metrics = metrics.replace(**{"file_bytes": (out / "model.safetensors").stat().st_size})
    if res is not None and res.warning:  # this machine's trust store could not record the user's file
        metrics = metrics.replace(**{"warnings": [*metrics.warnings, res.warning]})
    return Run(path=out, model=net.eval(), spec=spec, metrics=metrics, manifest=manifest)


def _check_state_dict(weights) -> None:
    if not isinstance(weights, dict) or not weights:
        raise EdgekitError(f"weights must be a state dict (names → tensors), not {type(weights).__name__}", WEIGHTS_FIX)
    for name, value in weights.items():
        if not isinstance(name, str) or not isinstance(value, torch.Tensor):
            raise EdgekitError(f"weights entry {name!r} is {type(value).__name__}, not a tensor", WEIGHTS_FIX)


def _check_preprocess(preprocess) -> None:
    if preprocess is None:
        return
    if not isinstance(preprocess, dict):
        raise EdgekitError(f"preprocess must be a dict, not {type(preprocess).__name__}", PREPROCESS_FIX)
    unknown = sorted(set(preprocess) - set(PREPROCESS_KEYS))
    if unknown:
        raise EdgekitError(f"preprocess: unknown key '{unknown[0]}' (allowed: {', '.join(PREPROCESS_KEYS)})", PREPROCESS_FIX)
    if "steps" in preprocess and ({"scale", "resize"} & set(preprocess)):
        raise EdgekitError("preprocess: 'steps' replaces every step, so 'scale' and 'resize' cannot go with it", PREPROCESS_FIX)
    if ("mean" in preprocess) != ("std" in preprocess):
        raise EdgekitError("preprocess: 'mean' and 'std' go together", PREPROCESS_FIX)


def _steps(preprocess: dict, source, shape) -> list[dict] | None:
    """The steps before the normalisation: the user's, or the data set's with the user's scale and resize method."""
    if "steps" in preprocess:
        steps = preprocess["steps"]
        if not isinstance(steps, list):
            raise EdgekitError(f"preprocess: 'steps' must be a list of steps, not {type(steps).__name__}", PREPROCESS_FIX)
    elif "scale" in preprocess or "resize" in preprocess:
        steps = [dict(step) for step in source.steps(tuple(shape))]
        if "scale" in preprocess:
            scales = [step for step in steps if step["op"] == "scale"]
            if scales:
                scales[0]["factor"] = preprocess["scale"]
            else:
                steps.insert(0, {"op": "scale", "factor": preprocess["scale"]})
        if "resize" in preprocess:
            resizes = [step for step in steps if step["op"] == "resize"]
            if not resizes:
                raise EdgekitError("preprocess: 'resize' applies to images, and this data set holds none", PREPROCESS_FIX)
            resizes[0]["method"] = preprocess["resize"]
    else:
        return None  # the data set's own, as `edgekit train` records them
    pipeline = {"version": device_preprocess.PIPELINE_VERSION, "input": source.input, "steps": steps}
    try:
        made = device_preprocess.run(pipeline, source.raw[0]) if source.raw else None
    except ValueError as e:
        raise EdgekitError(f"the preprocessing given to adopt: {e}", PREPROCESS_FIX) from None
    if made is not None and tuple(made.shape[1:]) != tuple(shape):
        raise EdgekitError(
            f"the preprocessing given to adopt makes samples of shape {tuple(made.shape[1:])}, the model takes {tuple(shape)}",
            "end the steps with the model's input shape (a resize, a reshape), or pass input_shape",
        )
    return steps


def _label_order(labels, data_labels: list[str], task, data_spec: str) -> list[str]:
    """The model's class names in its output order; the data's classes are matched to them by name."""
    if labels is None:
        return []
    if not task.has_classes:
        raise EdgekitError(f"labels name classes, and a {task.name} model has none", "leave labels out")
    if not isinstance(labels, list) or not all(isinstance(v, str) and v for v in labels) or len(set(labels)) != len(labels):
        raise EdgekitError("labels must be a list of distinct, non-empty class names", "pass e.g. labels=['cat', 'dog']")
    if len(labels) != len(data_labels):
        raise EdgekitError(
            f"labels names {len(labels)} classes, the data set '{data_spec}' has {len(data_labels)}",
            "give one name per output of the model, the data set's classes among them",
        )
    unnamed = data_labels in ([str(i) for i in range(len(data_labels))], [f"class{i}" for i in range(len(data_labels))])
    if sorted(labels) != sorted(data_labels) and not unnamed:
        missing = sorted(set(data_labels) - set(labels))
        raise EdgekitError(
            f"labels do not name the data set's classes ({', '.join(missing[:3])} missing)",
            "give the data set's class names in the model's output order",
        )
    return labels  # a permutation of the data's names renumbers its classes; its unnamed classes are named in order


def _normalization(preprocess: dict, x_train: np.ndarray, shape) -> dict:
    if "mean" not in preprocess:
        return compute_normalization(x_train)  # as `edgekit train` does
    mean, std = preprocess["mean"], preprocess["std"]
    mean, std = (list(v) if isinstance(v, (list, tuple)) else [v] for v in (mean, std))
    norm = {"mean": mean, "std": std, "axis": None if len(mean) == len(std) == 1 else 0}
    try:
        check_normalization(norm, list(shape))
    except ValueError as e:
        raise EdgekitError(f"preprocess: the normalisation {e}", PREPROCESS_FIX) from None
    return {"mean": [float(v) for v in mean], "std": [float(v) for v in std], "axis": norm["axis"]}


def _network(model, weights: dict | None, spec, res) -> nn.Module:
    if isinstance(model, nn.Module):
        net = model
    elif res is not None:
        net = construct(res, spec.arch, num_classes=spec.num_classes, input_shape=spec.input_shape, kwargs=spec.kwargs)
    else:
        net = build_model(spec)
    if weights is not None:
        check_weights(weights, net, "the weights given to adopt", WEIGHTS_FIX)
        result = net.load_state_dict(weights, strict=False)
        if result.missing_keys or result.unexpected_keys:
            extra, missing = result.unexpected_keys, result.missing_keys
            said = "; ".join(
                f"{what} {', '.join(keys[:3])}{' …' if len(keys) > 3 else ''}"
                for what, keys in (("unknown", extra), ("missing", missing))
                if keys
            )
            raise EdgekitError(f"the weights do not fit {spec.name}: {said}", WEIGHTS_FIX)
    return net.cpu().eval()


def _score(net: nn.Module, spec, task, data: Splits, seed: int) -> Metrics:
    """metrics.json as a trained run has it: the task's scores on test and val, cost, warnings. `train_config`
    holds what compress fine-tunes an adopted model with (edgekit's defaults): nothing was trained here."""
    out_test = predict(net, data.x["test"])
    test = task.score(out_test, data.x["test"], data.y["test"], data.groups["test"]).metrics
    val = task.score(predict(net, data.x["val"]), data.x["val"], data.y["val"], data.groups["val"]).metrics
    cost = profile_model(net, spec.input_shape)
    return Metrics(
        stage="adopt",
        task=spec.task,
        quality=task.quality,
        higher_is_better=task.higher_is_better,
        test=test,
        val=val,
        cost=Cost(**cost.to_json()),
        train_config=TrainConfig(**TRAIN_DEFAULTS, seed=seed).to_json(),
        device="cpu",
        warnings=quality_warnings(task, spec, out_test, test),
    )
