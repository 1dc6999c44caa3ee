"""adopt_run: a model trained elsewhere (architecture + weights) becomes a run folder that compress, export and
bench take like any other — scored on the data set's test split, with the preprocessing and label order it was
trained with. Nothing is trained. `edgekit import CHECKPOINT` is this stage with a weights file: read as data
(edgekit/checkpoints.py), fitted to the architecture (edgekit/nn/fit_weights.py), and recorded in the manifest
(its path in `lineage`, its sha256 in `weights`).

The preprocessing is the data set's own (as `edgekit train` records it) unless `preprocess` says otherwise: a
deploy.json-style pipeline (a JSON/TOML file or its dict), or a short form — {"mean", "std"} the normalisation the
model was trained with, {"scale"} the factor raw values were scaled by, {"resize"} the resize method, {"steps"}
every step before the normalisation (edgekit/data/user_preprocess.py). The result is checked by the device's own
validator: what the device will run is what is recorded.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn

from ..checkpoints import Checkpoint, read_checkpoint
from ..contracts import Cost, Metrics
from ..data import Splits
from ..data.user_preprocess import given, load_as_given
from ..errors import EdgekitError
from ..limits import check_train_values
from ..nn.evaluate import predict
from ..nn.fit_weights import fit_and_load
from ..nn.profile import profile_model
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

WEIGHTS_FIX = "pass the state dict the model was trained to (model.state_dict() of the same architecture)"
FILE_FIX = "pass the --model (and --model-arg) the checkpoint was trained with"
CHANCE_CAUSE = (
    ": its preprocessing or class order is probably not the one it was trained with — give its resize/scale/mean/std "
    "(--preprocess FILE) and its class order (--labels)"
)


def adopt_run(
    model,
    weights=None,
    dataset: str | None = None,
    *,
    preprocess=None,
    labels: list[str] | None = None,
    input_shape=None,
    task: str | None = None,
    out: Path | None = None,
    seed: int = 0,
    model_args: dict | None = None,
    trust_code: bool = False,
    weights_key: str | None = None,
    say=None,
    graph=None,
) -> Run:
    """`model`: an nn.Module holding its weights (or given `weights`), or a zoo name / file.py:Class /
    package.module:factory / timm:NAME built here and given `weights`: a state dict of tensors, or a weights file
    (.safetensors, .pt/.pth/.bin/.ckpt read with torch.load(weights_only=True); `weights_key`: the training
    checkpoint's entry). `dataset`: the data it is scored on (split by `seed`, as training would); `preprocess`: a
    pipeline file or dict, or the short form; `labels`: its class names in its output order; `task`: what the model
    does, when its recipe does not say (a user's module is a classifier unless told). `say`: where notes go.
    `graph`: an imported ONNX file (edgekit/stages/onnx_import.py), whose graph is then the architecture."""
    started = now()
    check_train_values(seed=seed, input_shape=input_shape, model_args=model_args)  # edgekit/limits.py, before any work
    if out is not None:
        _check_new_out(Path(out))
    checkpoint = None
    if isinstance(weights, (str, Path)):  # read (and refused) before any data is: a bad file costs nothing
        checkpoint = read_checkpoint(weights, weights_key)
        weights = checkpoint.state
    elif weights is not None:
        _check_state_dict(weights)
    elif not isinstance(model, nn.Module):
        raise EdgekitError(f"adopting '{model}' needs its trained weights", WEIGHTS_FIX.replace("pass", "pass weights=", 1))
    spec, _, data_spec, code, res = resolve_spec_base(model, input_shape, dataset, model_args, trust_code=trust_code)
    if graph is not None:  # the run folder keeps the graph, and its model is rebuilt from it
        spec = spec.replace(**graph.spec_fields())
    if task is not None:
        spec = spec.replace(task=get_task(task).name)
    where = str(preprocess) if isinstance(preprocess, (str, Path)) else "the preprocessing given to adopt"
    bundle, norm, pipeline = load_as_given(data_spec, spec, seed=seed, preprocess=given(preprocess, where), labels=labels, where=where)
    kind = get_task(bundle.task)  # the data can make a reconstruction model an anomaly detector
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
    net = _network(model, weights, spec, res, checkpoint, say or (lambda message: None))
    metrics = _score(net, spec, kind, Splits.of(bundle, norm), seed)
    manifest = new_manifest(
        "import",
        started=started,
        lineage=[str(checkpoint.path.resolve())] if checkpoint else [str(graph.path.resolve())] if graph else None,
        weights=checkpoint.record() if checkpoint else graph.weights() if graph else None,
    )
    out = Path(out) if out else _default_out(spec.name)
    with writing(out):  # one writer per folder, as for train
        _check_new_out(out)
        write_run_files(out, net, spec, metrics, manifest, code=code, graph=graph.data if graph else None)
    graph_only = graph is not None and spec.runs_in == "onnxruntime"  # its weights are in the graph
    metrics = metrics.replace(**{"file_bytes": len(graph.data) if graph_only else (out / "model.safetensors").stat().st_size})
    if res is not None and res.warning:  # this machine's trust store could not record the user's file
        metrics = metrics.replace(**{"warnings": [*metrics.warnings, res.warning]})
    return Run(path=out, model=net.eval(), spec=spec, metrics=metrics, manifest=manifest)


def _check_state_dict(weights) -> None:
    if not isinstance(weights, dict) or not weights:
        raise EdgekitError(f"weights must be a state dict (names → tensors), not {type(weights).__name__}", WEIGHTS_FIX)
    for name, value in weights.items():
        if not isinstance(name, str) or not isinstance(value, torch.Tensor):
            raise EdgekitError(f"weights entry {name!r} is {type(value).__name__}, not a tensor", WEIGHTS_FIX)


def _network(model, weights: dict | None, spec, res, checkpoint: Checkpoint | None, say) -> nn.Module:
    if isinstance(model, nn.Module):
        net = model
    elif res is not None:
        net = construct(res, spec.arch, num_classes=spec.num_classes, input_shape=spec.input_shape, kwargs=spec.kwargs)
    else:
        net = build_model(spec)
    check_input_shape(net, spec)  # before the weights: a wrong --input-shape is not a checkpoint that does not fit
    if weights is None:
        return net.cpu().eval()
    what = f"the weights in {checkpoint.path}" if checkpoint else "the weights"
    fitted = fit_and_load(weights, net, spec, what=what, new_classifier=False, fix=FILE_FIX if checkpoint else WEIGHTS_FIX)
    said = checkpoint.note(fitted.notes()) if checkpoint else "; ".join(fitted.notes())
    if said:  # one note line: what was taken from the file, what was left, how the names were fitted
        say(said if checkpoint else f"the weights: {said}")
    return net.cpu().eval()


def _score(net: nn.Module, spec, task, data: Splits, seed: int) -> Metrics:
    """metrics.json as a trained run has it: the task's scores on test and val, cost, warnings. `train_config`
    holds what compress fine-tunes an adopted model with (edgekit's defaults): nothing was trained here."""
    out_test = predict(net, data.x["test"])
    test = task.score(out_test, data.x["test"], data.y["test"], data.groups["test"]).metrics
    val = task.score(predict(net, data.x["val"]), data.x["val"], data.y["val"], data.groups["val"]).metrics
    cost = profile_model(net, spec.input_shape)
    chance = task.warnings(spec, test)  # a trained model at chance here is fed what it was not trained on
    warnings = [w + CHANCE_CAUSE if w in chance else w for w in quality_warnings(task, spec, out_test, test)]
    return Metrics(
        stage="import",
        task=spec.task,
        quality=task.quality,
        higher_is_better=task.higher_is_better,
        test=test,
        val=val,
        cost=Cost(**cost.to_json()),
        train_config=TrainConfig(**TRAIN_DEFAULTS, seed=seed).to_json(),
        device="cpu",
        warnings=warnings,
    )
