"""The typed hand-offs between stages, each versioned and validated on read:

    run folder       model.json → ModelSpec, metrics.json → Metrics, manifest.json → Manifest
    artifact folder  deploy.json → Deploy
    device runner    stdout JSON → RunnerResult
    bench            report.json → BenchReport

Readers call `load_*`, writers `dump`; nothing else passes between stages.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, Optional, Union

from pydantic import Field, StrictBool, StrictFloat, StrictInt, StrictStr, field_validator, model_validator

from . import limits
from .errors import EdgekitError
from .origins import OnnxGraph, UserCode, WeightsSource
from .records import Parity
from .schema import Loose, Strict, check_plain_name, dump, parse  # noqa: F401 (check_plain_name: the one rule, imported from here)
from .targets import TargetProfile
from .util.fsutil import BadData, read_json

MODEL_FORMAT = "edgekit.model/2"
METRICS_FORMAT = "edgekit.metrics/1"
MANIFEST_FORMAT = "edgekit.manifest/2"
DEPLOY_FORMAT = "edgekit.deploy/3"
RUNNER_FORMAT = "edgekit.runner/2"
REPORT_FORMAT = "edgekit.report/2"

Scalar = Union[StrictStr, StrictBool, StrictInt, StrictFloat, None]
# Constructor arguments a run folder may pass: JSON scalars and lists of them, never objects.
KwargValue = Union[Scalar, list[Union[Scalar, list[Scalar]]]]

PlainName = StrictStr


# ---------------------------------------------------------------- run folder


class DatasetRecord(Loose):
    spec: str
    seed: StrictInt
    fractions: list[float]
    sizes: dict[str, int]
    kind: str = "tensor"
    # The data files' contents at train time (edgekit/data/fingerprint.py): a recorded path is read again only
    # when it still holds them, so a received model.json cannot make export read (and ship) another file.
    sha256: Optional[StrictStr] = None

    # Checked on read: a bad seed or split share reached scikit-learn or a division by zero before.
    _seed = field_validator("seed")(limits.check_seed)
    _fractions = field_validator("fractions")(limits.check_fractions)

    @field_validator("sizes")
    @classmethod
    def _sizes(cls, v):
        if any(n < 0 for n in v.values()):
            raise ValueError("must hold sample counts ≥ 0")
        return v


class ModelSpec(Strict):
    format: Literal["edgekit.model/2"] = MODEL_FORMAT
    name: str
    source: Literal["zoo", "user", "onnx"]
    arch: str  # zoo key, or the user's reference as given (file.py:Class, pkg.mod:factory), or the ONNX graph's file
    input_shape: list[int]
    task: str = "classification"
    num_classes: Optional[int] = None
    kwargs: dict[str, KwargValue] = Field(default_factory=dict)
    labels: list[str] = Field(default_factory=list)
    normalization: dict[str, Any] = Field(default_factory=dict)  # the mean/std the preprocess ends with
    preprocess: dict[str, Any] = Field(default_factory=dict)  # raw sensor data → model input (edgekit/device/preprocess.py)
    dataset: Optional[DatasetRecord] = None
    resized_layers: dict[str, list[int]] = Field(default_factory=dict)
    bn_folded: bool = False
    quantization: dict[str, Any] = Field(default_factory=dict)
    input_dtype: Literal["float32"] = "float32"
    code: Optional[UserCode] = None
    graph: Optional[OnnxGraph] = None  # source "onnx": the imported graph the model is rebuilt from
    layout: Optional[str] = None  # written for readers; derived from input_shape

    # Sizes and values are checked before anything is built from them (edgekit/limits.py): a 10^10-channel
    # layer or a 100000x100000 input is refused here, not by the allocator.
    _shape = field_validator("input_shape")(limits.check_shape)

    @field_validator("num_classes")
    @classmethod
    def _classes(cls, v):
        if v is not None and not 2 <= v <= limits.MAX_CLASSES:
            raise ValueError(f"must lie in 2..{limits.MAX_CLASSES} (a classifier tells at least two classes apart)")
        return v

    @field_validator("labels")
    @classmethod
    def _labels(cls, v, info):
        n = info.data.get("num_classes")
        if v and n is not None and len(v) != n:
            raise ValueError(f"holds {len(v)} name(s) but num_classes is {n}: give one name per class")
        return v

    @field_validator("normalization")
    @classmethod
    def _normalization(cls, v, info):
        return limits.check_normalization(v, info.data.get("input_shape"))

    @field_validator("resized_layers")
    @classmethod
    def _resized(cls, v):
        for name, shape in v.items():
            try:
                limits.check_layer_shape(shape)
            except ValueError as e:
                raise ValueError(f"layer '{name}' {e} (got {shape})") from None
        return v

    @model_validator(mode="after")
    def _derive(self):
        self.layout = {1: "NC", 2: "NCL", 3: "NCHW"}.get(len(self.input_shape), "N" + "C" * len(self.input_shape))
        if (self.source == "onnx") != (self.graph is not None) or (self.graph and self.arch != self.graph.file):
            raise ValueError("source 'onnx', arch and graph go together: an imported graph's file is its architecture")
        return self

    @property
    def runs_in(self) -> str:
        """What the model runs in: "pytorch", or "onnxruntime" only (an ONNX graph onnx2torch does not convert)."""
        return self.graph.runs_in if self.graph else "pytorch"

    def to_json(self) -> dict:
        return dump(self)


class Cost(Strict):
    params: int
    nonzero_params: int
    macs: int
    size_bytes: int


class Metrics(Strict):
    """One shape for every stage: `test` holds the task's scores, `steps` the compression table (train: none)."""

    format: Literal["edgekit.metrics/1"] = METRICS_FORMAT
    stage: Literal[
        "train", "import", "adopt", "compress"
    ]  # import: weights trained elsewhere (stages/adopt.py); "adopt" as runs before 0.3 wrote it
    task: str
    quality: str  # the headline key of `test`
    higher_is_better: bool
    test: dict[str, Optional[float]]  # None: not defined on that split (AUC of normal-only validation clips)
    val: dict[str, Optional[float]] = Field(default_factory=dict)
    cost: Cost
    file_bytes: int = 0
    wall_seconds: float = 0.0
    history: list[dict[str, Any]] = Field(default_factory=list)
    steps: list[dict[str, Any]] = Field(default_factory=list)
    parent: Optional[dict[str, Any]] = None
    drop: Optional[float] = None  # quality lost against the parent, in the task's points
    max_drop: Optional[float] = None
    train_config: dict[str, Any] = Field(default_factory=dict)
    device: Optional[str] = None
    amp: Optional[str] = None
    best_epoch: Optional[int] = None
    epochs: Optional[int] = None
    distributed: Optional[dict[str, Any]] = None
    warnings: list[str] = Field(default_factory=list)

    @property
    def headline(self) -> float:
        return self.test[self.quality]


class Manifest(Strict):
    format: Literal["edgekit.manifest/2"] = MANIFEST_FORMAT
    stage: Literal[
        "train", "import", "adopt", "compress"
    ]  # import: weights trained elsewhere (stages/adopt.py); "adopt" as runs before 0.3 wrote it
    status: Literal["ok", "failed"] = "ok"
    failure: Optional[str] = None
    parent: Optional[str] = None
    lineage: list[str] = Field(default_factory=list)
    command: Optional[str] = None
    versions: dict[str, str] = Field(default_factory=dict)
    git_revision: Optional[str] = None
    started: str
    finished: Optional[str] = None
    steps: list[str] = Field(default_factory=list)
    weights: Optional[WeightsSource] = None  # adopt/import/fine-tuning: the checkpoint file and its sha256


# ---------------------------------------------------------------- artifact folder


class Quantization(Strict):
    scale: float
    zero_point: int


class TensorInfo(Strict):
    name: str
    shape: list[int]
    dtype: str
    quantization: Optional[Quantization] = None


# Names a received artifact may not give its files: code a Python could import or load (the device runner keeps
# received files out of its import path; refusing them too means no name is ever more than data).
CODE_SUFFIXES = (".py", ".pyc", ".pyo", ".pyw", ".pyd", ".pyz", ".so", ".pth", ".dll", ".dylib")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def check_data_name(name: str, what: str = "file name") -> str:
    """A plain name for a data file shipped to a device: not code, not deploy.json (the folder's own record)."""
    check_plain_name(name, what)
    low = name.lower()
    if low.endswith(CODE_SUFFIXES) or re.search(r"\.so(\.\d+)+$", low):
        raise ValueError(f"{what} {name!r} is a code file name ({', '.join(CODE_SUFFIXES)}); an artifact ships data only")
    if low == "deploy.json":
        raise ValueError(f"{what} {name!r} is the artifact's own deploy.json")
    return name


class ArtifactInfo(Strict):
    files: list[str]  # the first is the model file; all are plain names inside the artifact folder
    format: str
    precision: str
    bytes: int
    sha256: dict[str, str]

    @field_validator("files")
    @classmethod
    def _files(cls, v):
        if not v:
            raise ValueError("must name at least one file")
        twice = sorted({f for f in v if v.count(f) > 1})
        if twice:
            raise ValueError(f"names {', '.join(map(repr, twice))} more than once")
        return [check_data_name(f) for f in v]

    @model_validator(mode="after")
    def _hashes(self):
        if set(self.sha256) != set(self.files):
            raise ValueError("sha256 must hold one hash per file in 'files'")
        return self


MAX_THREADS = 256
_OPTION_TEXT = re.compile(r"^[A-Za-z0-9_+-][A-Za-z0-9_.+-]{0,63}$")


def _option_value(key: str, v):
    """Runtime options steer the device's runtime: numbers, switches, short words, lists of numbers. Never a path:
    a received deploy.json must not choose a folder or a file on the device."""
    if v is None or isinstance(v, (bool, int, float)):
        return
    if isinstance(v, str) and _OPTION_TEXT.match(v) and ".." not in v:
        return
    if isinstance(v, list) and all(isinstance(x, (bool, int, float)) for x in v):
        return
    raise ValueError(f"option '{key}' must be a number, a switch, a short word or a list of numbers, not a path or a table (got {v!r:.60})")


class RuntimeInfo(Strict):
    name: str
    packages: list[str]
    threads: int
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("threads")
    @classmethod
    def _threads(cls, v):
        if not 1 <= v <= MAX_THREADS:
            raise ValueError(f"must lie in 1..{MAX_THREADS}")
        return v

    @field_validator("options")
    @classmethod
    def _options(cls, v):
        for key, value in v.items():
            _option_value(key, value)
        return v


class EvalInfo(Strict):
    file: str
    samples: int
    raw: bool  # True: samples are the sensor's raw form, the runner applies `preprocess`
    contents: str
    sha256: str  # covers the eval file like artifact.sha256 covers the model: the reported accuracy rests on it

    @field_validator("file")
    @classmethod
    def _plain(cls, v):
        return check_data_name(v)

    @field_validator("sha256")
    @classmethod
    def _hash(cls, v):
        if not _SHA256.match(v):
            raise ValueError("must be the file's sha256 (64 lowercase hex digits)")
        return v


class Deploy(Strict):
    format: Literal["edgekit.deploy/3"] = DEPLOY_FORMAT
    artifact: ArtifactInfo
    runtime: RuntimeInfo
    # the model's tensors in its order, by the runtime's names, as the adapter that ran the artifact at export saw them
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    layout: str
    sample_shape: list[int]
    preprocess: dict[str, Any]
    task: str
    task_options: dict[str, Any] = Field(default_factory=dict)  # e.g. the anomaly threshold, fixed at export
    labels: list[str] = Field(default_factory=list)
    source: dict[str, Any]
    target: TargetProfile
    toolchain: dict[str, Any]
    calibration: Optional[dict[str, Any]] = None
    eval: EvalInfo
    parity: Parity  # export's verdict (edgekit/records.py): a task's figures, never keys generic code knows
    estimate: Optional[dict[str, Any]] = None
    extras: dict[str, Any] = Field(default_factory=dict)
    created: str

    @field_validator("inputs", "outputs")
    @classmethod
    def _tensors(cls, v):
        names = [t.name for t in v]
        if not v or len(set(names)) != len(names):
            raise ValueError("must list the model's tensors, at least one, each name once")
        return v

    @model_validator(mode="after")
    def _distinct(self):
        if self.eval.file in self.artifact.files:
            raise ValueError(f"eval.file {self.eval.file!r} is also one of artifact.files")
        return self


# ---------------------------------------------------------------- device runner and report


class Latency(Strict):
    p50: float
    p90: float
    p99: float
    mean: float
    std: float
    min: float
    max: float


class RunnerResult(Loose):
    schema_: Literal["edgekit.runner/2"] = Field(RUNNER_FORMAT, alias="schema")
    status: Literal["ok", "missing_runtime", "bad_artifact", "bad_input", "error"]  # bad_input: a received file
    detail: Optional[str] = None
    package: Optional[str] = None
    python: Optional[str] = None
    artifact: Optional[dict[str, Any]] = None
    threads: Optional[int] = None
    load_ms: Optional[float] = None
    first_inference_ms: Optional[float] = None
    warmup: Optional[int] = None
    queries: Optional[int] = None
    seconds: Optional[float] = None
    throughput_qps: Optional[float] = None
    latency_ms: Optional[Latency] = None
    frontend_ms: Optional[Latency] = None
    postprocess_ms: Optional[Latency] = None  # the device task's post-processing per raw sample (a detector's NMS)
    invokes_per_sample: Optional[float] = None  # model invocations per raw sample (anomaly clips: one per 5-frame window)
    latencies_ms: list[float] = Field(default_factory=list)
    peak_rss_mb: Optional[float] = None
    rss_before_load_mb: Optional[float] = None
    quality: dict[str, Optional[float]] = Field(default_factory=dict)
    # the device task's per-sample values as plain JSON, for the host to finish the score (COCO mAP); dropped once
    # it has, leaving `details` (per-class figures, curves, examples: what the task's report section shows)
    values: Optional[list[Any]] = None
    details: dict[str, Any] = Field(default_factory=dict)
    eval_samples: Optional[int] = None
    raw_input: Optional[bool] = None
    env: dict[str, Any] = Field(default_factory=dict)
    micro: Optional[dict[str, Any]] = None
    instructions: Optional[dict[str, Any]] = None

    model_config = {**Loose.model_config, "populate_by_name": True}


class Check(Strict):
    check: str
    value: Optional[float]
    limit: float
    unit: str = ""
    direction: Literal["max", "min"]  # max: the value must not exceed the limit
    status: Literal["PASS", "FAIL", "not the target", "not proven"]  # not proven: a --no-parity artifact's quality
    note: Optional[str] = None

    @property
    def failed(self) -> bool:
        return self.status == "FAIL"


class ReportEntry(Strict):
    folder: str
    model: str
    target: str
    format: str
    precision: str
    runtime: str
    bytes: int
    task: str
    quality: str
    export_parity: Parity
    status: Literal["ok", "failed"]
    error: Optional[str] = None
    result: Optional[RunnerResult] = None
    checks: list[Check] = Field(default_factory=list)
    flags: list[str] = Field(default_factory=list)
    speedup_vs_fp32: Optional[float] = None
    pareto: bool = False

    @property
    def passed(self) -> bool:
        return self.status == "ok" and not any(c.failed or c.status == "not proven" for c in self.checks)


class BenchReport(Strict):
    schema_: Literal["edgekit.report/2"] = Field(REPORT_FORMAT, alias="schema")
    created: str
    device: dict[str, Any]
    measured_on_target: bool
    caveat: Optional[str] = None
    entries: list[ReportEntry]

    model_config = {**Strict.model_config, "populate_by_name": True}

    @property
    def failed_runs(self) -> list[ReportEntry]:
        return [e for e in self.entries if e.status == "failed"]

    @property
    def passed(self) -> bool:
        return all(e.passed for e in self.entries)

    def to_json(self) -> dict:
        return {**self.model_dump(mode="json", by_alias=True), "passed": self.passed}


# ---------------------------------------------------------------- reading


def _load(model, path: Path, what: str, fix: str):
    path = Path(path)
    try:
        data = read_json(path)
    except FileNotFoundError:
        raise EdgekitError(f"{path} not found", fix) from None
    except BadData as e:  # NaN/inf or a nesting bomb: named here, before any model reads a value
        raise EdgekitError(e.about(path), fix) from None
    except (ValueError, UnicodeDecodeError) as e:
        raise EdgekitError(f"{path} is not valid JSON ({str(e)[:80]})", fix) from None
    except OSError as e:
        raise EdgekitError(f"cannot read {path}: {e.strerror}", fix) from None
    expected = model.model_fields["format"].default if "format" in model.model_fields else None
    if expected and isinstance(data, dict) and data.get("format") != expected:
        raise EdgekitError(f"{path} is a {data.get('format') or 'unversioned'} file, this edgekit reads {expected} ({what})", fix)
    return parse(model, data, str(path), fix)


RUN_FIX = "re-create the run folder with `edgekit train` / `edgekit compress`"
DEPLOY_FIX = "re-export it with `edgekit export`"


def load_spec(path: Path) -> ModelSpec:
    spec = _load(ModelSpec, path, "model.json", RUN_FIX)
    if spec.dataset is None:  # null only while training builds the spec; every run records its data
        raise EdgekitError(f"{path}: key 'dataset' is null, but a run records the data set it was trained on", RUN_FIX)
    return spec


def load_metrics(path: Path) -> Metrics:
    return _load(Metrics, path, "metrics.json", RUN_FIX)


def load_manifest(path: Path) -> Manifest:
    return _load(Manifest, path, "manifest.json", RUN_FIX)


def load_deploy(path: Path) -> Deploy:
    return _load(Deploy, path, "deploy.json", DEPLOY_FIX)
