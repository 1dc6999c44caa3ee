"""The preprocessing and class order a user's model was trained with, replacing the data set's default (`train`/`import`
`--preprocess FILE`, `ek.adopt(preprocess=...)`): the model must see what it was trained on, and the device runs
exactly what is recorded. Two forms, both checked by the device's own validator:

  a pipeline, as deploy.json's `preprocess` holds it (a JSON or TOML file):
      {"version": 1, "input": {"kind": "image", "channels": "L"}, "steps": [..., {"op": "normalize", ...}]}
    its `input` must be the data set's raw samples' (the steps run on them); a final normalize step is the
    normalisation, taken as given (never recomputed); without one the model takes the steps' output as it is.
  a short form: {"mean": [...], "std": [...]}, {"scale": 1/255}, {"resize": "nearest"}, {"steps": [...]} (each optional)
    changes to the data set's own steps; without mean/std the normalisation is computed on the train split.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..device import preprocess as device_preprocess
from ..errors import EdgekitError, from_os_error
from ..limits import check_normalization
from .normalize import compute_normalization

PREPROCESS_KEYS = ("mean", "std", "axis", "scale", "resize", "steps")
PIPELINE_KEYS = ("version", "input", "steps")
PREPROCESS_FIX = "give preprocess={'mean': [...], 'std': [...], 'scale': 1/255, 'resize': 'bilinear', 'steps': [...]} (each optional)"
FILE_FIX = 'write deploy.json\'s preprocess form: {"version": 1, "input": {...}, "steps": [...]} (see a deploy.json)'


def read_preprocess_file(path) -> dict:
    """A JSON or TOML file holding a pipeline (or a document whose `preprocess` holds one, e.g. a deploy.json),
    validated by the device's validator: one line naming the file and the key."""
    from ..util.fsutil import BadData, read_json, read_toml

    path = Path(path)
    if path.suffix.lower() == ".toml":
        data = read_toml(path, "preprocess file", FILE_FIX)
    elif path.suffix.lower() == ".json":
        try:
            data = read_json(path)
        except FileNotFoundError:
            raise EdgekitError(f"preprocess file not found: {path}", "check the path") from None
        except (ValueError, UnicodeDecodeError) as e:  # BadData and JSONDecodeError are ValueErrors
            shown = e.about(path) if isinstance(e, BadData) else f"{path} is not valid JSON ({str(e)[:80]})"
            raise EdgekitError(shown, FILE_FIX) from None
        except OSError as e:
            raise from_os_error(e, str(path)) from None
    else:
        raise EdgekitError(f"{path}: a preprocess file is .json or .toml", FILE_FIX)
    if isinstance(data, dict) and isinstance(data.get("preprocess"), dict):
        data = data["preprocess"]  # a deploy.json, or a TOML file with a [preprocess] table
    try:
        device_preprocess.validate(data)
    except ValueError as e:
        raise EdgekitError(f"{path}: {e}", FILE_FIX) from None
    return data


def given(preprocess, where: str) -> dict | None:
    """The preprocess argument as a checked dict: a file path is read, a pipeline validated, a short form checked."""
    if preprocess is None:
        return None
    if isinstance(preprocess, (str, Path)):
        return read_preprocess_file(preprocess)
    if not isinstance(preprocess, dict):
        raise EdgekitError(f"{where}: preprocess must be a dict or a file, not {type(preprocess).__name__}", PREPROCESS_FIX)
    if is_pipeline(preprocess):
        try:
            device_preprocess.validate(preprocess)
        except ValueError as e:
            raise EdgekitError(f"{where}: {e}", FILE_FIX) from None
        return preprocess
    unknown = sorted(set(preprocess) - set(PREPROCESS_KEYS))
    if unknown:
        raise EdgekitError(f"{_named(where)}: unknown key '{unknown[0]}' (allowed: {', '.join(PREPROCESS_KEYS)})", PREPROCESS_FIX)
    if "steps" in preprocess and ({"scale", "resize"} & set(preprocess)):
        raise EdgekitError(f"{_named(where)}: 'steps' replaces every step, so 'scale' and 'resize' cannot go with it", PREPROCESS_FIX)
    if ("mean" in preprocess) != ("std" in preprocess) or ("axis" in preprocess and "mean" not in preprocess):
        raise EdgekitError(f"{_named(where)}: 'mean' and 'std' go together (and 'axis' with them)", PREPROCESS_FIX)
    return preprocess


def _named(where: str) -> str:
    """How a short form's messages name it: "preprocess" when the caller gave it, else the file that holds it."""
    return "preprocess" if where.startswith("the preprocessing given") else where


def is_pipeline(preprocess: dict) -> bool:
    return "version" in preprocess or "input" in preprocess


def short_form(preprocess: dict | None, source, where: str) -> dict:
    """A pipeline made the short form {steps, mean, std, axis}, after checking it reads the data set's raw samples."""
    if not preprocess or not is_pipeline(preprocess):
        return preprocess or {}
    if preprocess["input"] != source.input:
        raise EdgekitError(
            f"{where}: its input {json.dumps(preprocess['input'])} is not the data set's raw samples ({json.dumps(source.input)})",
            f'write "input": {json.dumps(source.input)}: the steps run on the data set\'s raw samples',
        )
    steps = [dict(step) for step in preprocess["steps"]]
    if steps and steps[-1]["op"] == "normalize":
        last = steps.pop()
        mean, std = (v if isinstance(v, list) else [v] for v in (last["mean"], last["std"]))
        return {"steps": steps, "mean": mean, "std": std, "axis": last.get("axis")}
    return {"steps": steps, "mean": [0.0], "std": [1.0], "axis": None}  # trained on the steps' output as it is


def steps_for(preprocess: dict, source, shape, where: str) -> list[dict] | None:
    """The steps before the normalisation: the user's, or the data set's with the user's scale and resize method
    (None: the data set's own, as `edgekit train` records them)."""
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
        return None
    pipeline = {"version": device_preprocess.PIPELINE_VERSION, "input": source.input, "steps": steps}
    try:
        made = device_preprocess.run(pipeline, source.raw[0]) if source.raw else None
    except ValueError as e:
        raise EdgekitError(f"{where}: {e}", PREPROCESS_FIX) from None
    if made is not None and tuple(made.shape[1:]) != tuple(shape):
        raise EdgekitError(
            f"{where} makes samples of shape {tuple(made.shape[1:])}, the model takes {tuple(shape)}",
            "end the steps with the model's input shape (a resize, a reshape), or pass input_shape",
        )
    return steps


def normalization_for(preprocess: dict, x_train: np.ndarray, shape) -> dict:
    """The user's mean/std (per channel on axis 0, or as the pipeline's normalize step said), else the train split's."""
    if "mean" not in preprocess:
        return compute_normalization(x_train)  # as `edgekit train` does
    mean, std = (list(v) if isinstance(v, (list, tuple)) else [v] for v in (preprocess["mean"], preprocess["std"]))
    axis = preprocess["axis"] if "axis" in preprocess else (None if len(mean) == len(std) == 1 else 0)
    norm = {"mean": mean, "std": std, "axis": axis}
    try:
        check_normalization(norm, list(shape))
    except ValueError as e:
        raise EdgekitError(f"preprocess: the normalisation {e}", PREPROCESS_FIX) from None
    return {"mean": [float(v) for v in mean], "std": [float(v) for v in std], "axis": axis}


def pipeline_with(bundle_pipeline: dict, norm: dict, where: str) -> dict:
    """The recorded pipeline: the data's steps then the normalisation, checked by the device's own validator."""
    from .normalize import normalize_step

    pipeline = {**bundle_pipeline, "steps": [*bundle_pipeline["steps"], normalize_step(norm)]}
    try:
        device_preprocess.validate(pipeline)  # what the device will run is what is recorded
    except ValueError as e:
        raise EdgekitError(f"{where}: {e}", PREPROCESS_FIX) from None
    return pipeline


def label_order(labels, data_labels: list[str], task, data_spec: str) -> list[str]:
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


def load_as_given(data_spec: str, spec, *, seed: int, preprocess: dict | None, labels, where: str):
    """(data bundle in the model's class order, normalisation, recorded pipeline) with the user's preprocessing."""
    from ..tasks import get_task
    from .loaders import load_dataset, read_fingerprinted

    source, fingerprint = read_fingerprinted(data_spec)
    preprocess = short_form(preprocess, source, where)
    steps = steps_for(preprocess, source, spec.input_shape, where)
    bundle = load_dataset(data_spec, spec.input_shape, seed=seed, task=spec.task, source=source, steps=steps, fingerprint=fingerprint)
    bundle = bundle.in_order(label_order(labels, bundle.labels, get_task(bundle.task), data_spec))
    norm = normalization_for(preprocess, bundle.x["train"], spec.input_shape)
    return bundle, norm, pipeline_with(bundle.pipeline, norm, where)
