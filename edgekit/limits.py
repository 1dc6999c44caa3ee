"""Values edgekit refuses before any work: absurd sizes that would allocate gigabytes, seeds the splitter rejects,
split fractions that divide by zero, normalisations that do not fit the input. One place, so the command line,
the Python API and every file reader (model.json, recipes, targets) apply the same rule.

Each check raises ValueError phrased to follow a key ("must ..."): pydantic validators pass it on as
"model.json: key 'input_shape': must ..."; callers outside a schema wrap it in an EdgekitError naming their flag.
"""

from __future__ import annotations

import math

MAX_DIM = 16384  # one dimension of a model input (an image side, a clip's frames)
MAX_SAMPLE_VALUES = 1 << 24  # values in one model input: 64 MiB of float32, far above any edge model's input
MAX_CHANNELS = 1 << 16  # one dimension of a layer's weight
MAX_LAYER_PARAMS = 1 << 28  # one layer's weights: 1 GiB of float32
MAX_MODEL_PARAMS = 1 << 30  # a whole model: 4 GiB of float32 weights (training needs several times that)
MAX_CLASSES = 1 << 16
MAX_SEED = 2**32 - 1  # what numpy's and scikit-learn's random states accept


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def check_shape(shape) -> list[int]:
    """A model input shape without the batch axis: 1..5 positive dimensions, each ≤ MAX_DIM, ≤ MAX_SAMPLE_VALUES in all."""
    shape = list(shape)
    if not shape or len(shape) > 5 or not all(_is_int(d) and d > 0 for d in shape):
        raise ValueError("must be 1 to 5 positive integers")
    if max(shape) > MAX_DIM or math.prod(shape) > MAX_SAMPLE_VALUES:
        raise ValueError(
            f"is too large: {math.prod(shape):,} values per sample (at most {MAX_SAMPLE_VALUES:,}, each dimension ≤ {MAX_DIM})"
        )
    return shape


def check_layer_shape(shape) -> list[int]:
    """A resized layer's weight shape (out, in, *kernel): positive, each ≤ MAX_CHANNELS, ≤ MAX_LAYER_PARAMS in all."""
    if not 1 <= len(shape) <= 5 or not all(_is_int(d) and d > 0 for d in shape):
        raise ValueError("must be 1 to 5 positive integers")
    if max(shape) > MAX_CHANNELS or math.prod(shape) > MAX_LAYER_PARAMS:
        raise ValueError(f"is too large: {math.prod(shape):,} weights (at most {MAX_LAYER_PARAMS:,}, each dimension ≤ {MAX_CHANNELS})")
    return shape


def check_seed(seed) -> int:
    if not _is_int(seed) or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"must be a whole number in 0..{MAX_SEED}")
    return seed


def check_fractions(fractions) -> list[float]:
    """train/val/test shares: three positive finite numbers summing to 1."""
    ok = len(fractions) == 3 and all(_is_number(f) and math.isfinite(f) and f > 0 for f in fractions)
    if not ok or abs(sum(fractions) - 1) > 1e-6:
        raise ValueError("must be three positive numbers (train, val, test shares) summing to 1")
    return fractions


def check_normalization(norm: dict, input_shape) -> dict:
    """{"mean": [...], "std": [...], "axis": 0 | None}: one value (axis None) or one per channel of `axis`, std > 0."""
    if not norm:
        return norm
    if set(norm) != {"mean", "std", "axis"}:
        raise ValueError("must hold exactly 'mean', 'std' and 'axis'")
    mean, std, axis = norm["mean"], norm["std"], norm["axis"]
    if not (isinstance(mean, list) and isinstance(std, list) and all(_is_number(v) for v in mean + std)):
        raise ValueError("'mean' and 'std' must be lists of numbers")
    if not all(s > 0 for s in std):
        raise ValueError("'std' must hold positive numbers")
    if axis is None:
        expected = 1
    elif _is_int(axis) and input_shape and 0 <= axis < len(input_shape):
        expected = input_shape[axis]
    else:
        raise ValueError(f"'axis' must be null or an axis of the input shape {list(input_shape or [])}")
    if len(mean) != len(std) or len(std) not in (1, expected):
        want = "1 value" if expected == 1 else f"1 value or {expected} (one per channel on axis {axis})"
        raise ValueError(f"'mean' and 'std' have {len(mean)} and {len(std)} values; input shape {list(input_shape)} takes {want}")
    return norm


def _scalar(v) -> bool:
    return v is None or isinstance(v, (str, bool, int)) or (isinstance(v, float) and math.isfinite(v))


def check_model_arg(key, value):
    """A constructor argument a run folder may record (contracts.KwargValue): a JSON scalar, or a list of scalars
    and lists of scalars; never an object, never NaN."""
    if not isinstance(key, str) or not key.isidentifier():
        raise ValueError(f"argument name {key!r} must be a Python identifier")
    ok = _scalar(value) or (
        isinstance(value, list) and all(_scalar(v) or (isinstance(v, list) and all(_scalar(w) for w in v)) for v in value)
    )
    if not ok:
        raise ValueError(
            f"argument '{key}' = {value!r:.60}: values are numbers (finite), strings, booleans, null or lists of them, "
            "at most two levels deep"
        )
    return value


def check_train_values(*, seed, input_shape, model_args) -> None:
    """The training values a user gives (flags or the Python API), refused in one line before any data is read."""
    from .errors import EdgekitError

    try:
        check_seed(seed)
    except ValueError as e:
        raise EdgekitError(f"seed {seed!r} {e}", "pass e.g. --seed 0") from None
    if input_shape is not None:
        try:
            check_shape(list(input_shape))
        except (ValueError, TypeError) as e:
            shown = ",".join(map(str, input_shape)) if isinstance(input_shape, (list, tuple)) else repr(input_shape)
            raise EdgekitError(f"input shape {shown} {e}", "pass the model's input shape, e.g. --input-shape 3,32,32") from None
    if not isinstance(model_args, (dict, type(None))):
        raise EdgekitError(f"model arguments must be a dict, not {type(model_args).__name__}", "pass e.g. model_args={'width': 0.5}")
    for key, value in (model_args or {}).items():
        try:
            check_model_arg(key, value)
        except ValueError as e:
            raise EdgekitError(f"model {e}", "pass KEY=VALUE with VALUE a number, text, true/false or a list") from None
