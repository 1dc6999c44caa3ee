"""`edgekit pipeline`: train → compress → export → bench from one TOML file, resuming at the first unfinished stage.

Each stage writes its own folder under the pipeline's output folder, atomically; a finished folder is the
record that the stage is done, so a re-run skips it (an interrupted training run resumes from its last epoch).
The file is validated (types, keys, stage names, every value, the target, the formats, the device, and what
it may run: edgekit/stages/pipeline_check.py) before any stage runs. A pipeline file is data: see pipeline_check.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Literal, Optional

from pydantic import Field, field_validator

from ..contracts import KwargValue, check_plain_name
from ..errors import EdgekitError
from ..runs import CHECKPOINT_DIR, is_run
from ..schema import Strict, parse
from ..util.fsutil import read_toml
from ..util.resources import data_dir

RESERVED = {"train", "dist", "report", "data"}


class DataSection(Strict):
    """A data set made on this machine (no download) into <out>/data when missing."""

    make: Literal["keywords", "machines", "objects"]
    seed: int = 0
    speakers: int = 40  # keywords: espeak-ng voices, each a speaker
    repeats: int = 2  # keywords: clips per word and speaker
    keywords: Optional[list[str]] = None  # keywords: the classes to spot; the other words fold into _unknown_
    images: int = 1200  # objects: scenes to draw
    size: int = 160  # objects: typical image side in pixels
    classes: Optional[list[str]] = None  # objects: the shapes to find (default: all five)

    def spec(self, folder: Path) -> str:
        if self.make == "keywords":
            return f"audiofolder:{folder}" + (f"?keywords={','.join(self.keywords)}" if self.keywords else "")
        if self.make == "objects":
            return f"coco:{folder}"
        return f"machines:{folder}"


def _at_least(low: float, *, above: bool = False):
    """A validator: the value (if given) is ≥ low (> low with `above`); pydantic names the key."""

    def check(v):
        if v is not None and (v <= low if above else v < low):
            raise ValueError(f"must be {'>' if above else '≥'} {low:g}")
        return v

    return check


class TrainSection(Strict):
    model: str = "digits-cnn"
    dataset: Optional[str] = None
    epochs: Optional[int] = None
    batch_size: Optional[int] = None
    lr: Optional[float] = None
    weight_decay: Optional[float] = None
    seed: int = 0
    input_shape: Optional[list[int]] = None
    model_args: dict[str, KwargValue] = Field(default_factory=dict)

    _counts = field_validator("epochs", "batch_size")(_at_least(1))
    _lr = field_validator("lr")(_at_least(0, above=True))
    _decay = field_validator("weight_decay")(_at_least(0))

    @field_validator("seed")
    @classmethod
    def _seed(cls, v):
        from ..limits import check_seed

        return check_seed(v)

    @field_validator("input_shape")
    @classmethod
    def _shape(cls, v):
        from ..limits import check_shape

        return v if v is None else check_shape(v)


class ExportSection(Strict):
    target: str = "x86-64"
    calib: int = 300
    formats: Optional[list[str]] = None  # every runtime side by side; default: the target's preferred format
    min_agreement: Optional[float] = None  # as `export --min-agreement` (default: the target's floor)

    _calib = field_validator("calib")(_at_least(1))

    @field_validator("min_agreement")
    @classmethod
    def _agreement(cls, v):
        if v is not None and not 0 <= v <= 1:
            raise ValueError("must lie between 0 and 1")
        return v

    @field_validator("formats")
    @classmethod
    def _formats(cls, v):
        from ..formats import FORMATS

        unknown = [f for f in v or [] if f not in FORMATS]
        if unknown:
            raise ValueError(f"unknown format '{unknown[0]}' (use {', '.join(FORMATS)})")
        if v is not None and (not v or len(set(v)) != len(v)):
            raise ValueError("must name each format once, and at least one")
        return v


class BenchSection(Strict):
    device: str = "local"
    min_queries: Optional[int] = None
    min_seconds: Optional[float] = None
    warmup: Optional[int] = None
    threads: Optional[int] = None
    timeout: Optional[float] = None
    python: Optional[str] = None  # runs a program on this machine: needs --trust-code (pipeline_check.py)
    ssh_config: Optional[str] = None  # its ProxyCommand runs a local shell: needs --trust-code

    _counts = field_validator("min_queries", "threads")(_at_least(1))
    _zero_ok = field_validator("min_seconds", "warmup")(_at_least(0))
    _timeout = field_validator("timeout")(_at_least(0, above=True))


class PipelineFile(Strict):
    name: Optional[str] = None  # the default output folder is runs/pipeline-<name>
    description: str = ""
    data: Optional[DataSection] = None
    train: TrainSection
    compress: list[dict[str, Any]] = Field(default_factory=list)
    export: ExportSection
    bench: BenchSection = Field(default_factory=BenchSection)

    @field_validator("name")
    @classmethod
    def _name(cls, v):
        return v if v is None else check_plain_name(v, "the pipeline name")

    @field_validator("compress")
    @classmethod
    def _stages(cls, v):
        names = []
        for i, stage in enumerate(v, 1):
            name = stage.get("name")
            if not isinstance(name, str):
                raise ValueError(f'[[compress]] {i} needs name = "..." (a plain folder name)')
            check_plain_name(name, "stage name")
            if name in RESERVED or name in names:
                raise ValueError(f"stage name '{name}' is used twice or reserved ({', '.join(sorted(RESERVED))})")
            names.append(name)
        return v


class Pipeline:
    def __init__(self, file: PipelineFile, path: Path):
        self.file, self.path = file, path
        self.name = file.name or path.stem
        # a bad step, target, format or device is rejected now, not after training
        self.steps = [_compress_step(s, path, file.export.target) for s in file.compress]
        from .pipeline_check import check_values

        check_values(self)


def _compress_step(stage: dict, path: Path, target: str):
    """A [[compress]] table as a step; a qat step trains for the [export] target's preferred format unless it says
    (an unknown target is left to check_values, which names [export] target)."""
    from ..targets import find_target
    from .compress.recipe import step_from_table

    try:
        find_target(target)
    except EdgekitError:
        target = None
    return step_from_table({k: v for k, v in stage.items() if k != "name"}, f"{path} [[compress]] {stage['name']}", target)


def load_pipeline(path: Path | None) -> Pipeline:
    path = Path(path) if path else data_dir("pipelines") / "digits.toml"
    data = read_toml(path, "pipeline file", "check the path (the default is the embedded digits pipeline)")
    file = parse(PipelineFile, data, str(path), "see pipelines/digits.toml")
    return Pipeline(file, path)


def make_data(data: DataSection, folder: Path) -> None:
    try:
        if data.make == "keywords":
            from ..synth.keywords import make_keywords

            make_keywords(folder, speakers=data.speakers, repeats=data.repeats, seed=data.seed)
        elif data.make == "objects":
            from ..synth.objects import make_objects

            make_objects(folder, images=data.images, size=data.size, classes=data.classes, seed=data.seed)
        else:
            from ..synth.machines import make_machine_sounds

            make_machine_sounds(folder, seed=data.seed)
    except RuntimeError as e:  # espeak-ng missing
        raise EdgekitError(*str(e).split(" — ", 1)) from None


def run_pipeline(
    pipeline: Pipeline,
    out: Path,
    *,
    device: str | None = None,
    say: Callable[[str], None] = print,
    progress: bool = True,
    trust_code: bool = False,
    python: str | None = None,
    ssh_config: str | None = None,
) -> dict:
    """Runs (or resumes) every stage; returns {stage: folder} and the report. Bench failures propagate.
    `python` / `ssh_config`: the user's own choice, over the file's (which needs `trust_code`)."""
    from ..util.lock import writing
    from .pipeline_check import check_run

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise EdgekitError(f"{out} is a file, not a folder", "choose another --out")
    check_run(pipeline, device=device, trust_code=trust_code, python=python, ssh_config=ssh_config)
    _refuse_links(out)
    with writing(out):  # one pipeline per folder at a time
        return _run_stages(
            pipeline, out, device=device, say=say, progress=progress, trust_code=trust_code, python=python, ssh_config=ssh_config
        )


def _refuse_links(out: Path) -> None:
    """A pipeline folder may be received half-done: its stage folders are its own, never links to elsewhere."""
    if not out.is_dir():
        return
    for entry in [*out.iterdir(), *((out / "dist").iterdir() if (out / "dist").is_dir() and not (out / "dist").is_symlink() else [])]:
        if entry.is_symlink():
            raise EdgekitError(
                f"{entry} is a symbolic link, and a pipeline folder must hold its own stages",
                "replace the link with a copy, or remove it to redo that stage",
            )


def _run_stages(pipeline: Pipeline, out: Path, *, device, say, progress, trust_code, python, ssh_config) -> dict:
    from .bench import Measurement, bench
    from .compress import compress_run
    from .export import export_run
    from .train import train_run

    f = pipeline.file
    folders: dict[str, Path] = {}
    dataset = f.train.dataset
    if f.data is not None:
        data_dir, dataset = out / "data", f.data.spec(out / "data")
        if data_dir.is_dir():
            say(f"[skip] data: {data_dir} is made")
        else:
            say(f"[run] data: making {f.data.make} in {data_dir}")
            make_data(f.data, data_dir)
        folders["data"] = data_dir
    train_dir = out / "train"
    t = f.train
    if is_run(train_dir):
        say(f"[skip] train: {train_dir} is finished")
    elif (train_dir / CHECKPOINT_DIR).is_dir():
        say(f"[resume] train: continuing {train_dir} from its last finished epoch")
        train_run(resume=train_dir, progress=progress, trust_code=trust_code)
    else:
        say(f"[run] train {t.model} on {dataset or 'its recipe data set'}")
        train_run(
            t.model,
            dataset,
            out=train_dir,
            input_shape=tuple(t.input_shape) if t.input_shape else None,
            seed=t.seed,
            epochs=t.epochs,
            batch_size=t.batch_size,
            lr=t.lr,
            weight_decay=t.weight_decay,
            model_args=t.model_args,
            progress=progress,
            trust_code=trust_code,
            named_by=f"{pipeline.path} [train] model",
        )
    folders["train"] = parent = train_dir
    runs = {"train": train_dir}
    for stage, step in zip(f.compress, pipeline.steps):
        step_dir = out / stage["name"]
        if is_run(step_dir):
            say(f"[skip] {stage['name']}: {step_dir} is finished")
        else:
            say(f"[run] compress {stage['name']} ({stage['kind']})")
            compress_run(parent, [step], step_dir, progress=progress, trust_code=trust_code)
        folders[stage["name"]] = runs[stage["name"]] = parent = step_dir
    quantized = {s["name"] for s in f.compress if s.get("kind") in ("qat", "ptq")}
    artifacts = []
    for stage, run in runs.items():  # every stage: the report compares fp32, compressed and int8 side by side
        precision = "int8" if stage in quantized else "fp32"
        for fmt in f.export.formats or [None]:
            art_dir = out / "dist" / (stage if fmt is None else f"{stage}-{fmt}")
            if (art_dir / "deploy.json").is_file():
                say(f"[skip] export {stage}{'' if fmt is None else ' ' + fmt}: {art_dir} is finished")
            else:
                say(f"[run] export {stage} for {f.export.target} ({fmt or 'its format'}, {precision})")
                export_run(
                    run,
                    target=f.export.target,
                    fmt=fmt,
                    precision=precision,
                    out=art_dir,
                    calib=f.export.calib,
                    min_agreement=f.export.min_agreement,
                    trust_code=trust_code,
                    progress=progress,
                )
            artifacts.append(art_dir)
    b = f.bench
    report = out / "report" / "report.html"
    dev = device or b.device
    say(f"[run] bench {len(artifacts)} artifacts on {dev}")
    m = Measurement(
        **{k: getattr(b, k) for k in ("min_queries", "min_seconds", "warmup", "threads", "timeout") if getattr(b, k) is not None}
    )
    # the same checks as `edgekit bench` for every artifact, including one found finished in a received folder
    rep, _ = bench(artifacts, device=dev, measurement=m, report=report, python=python or b.python, ssh_config=ssh_config or b.ssh_config)
    folders["report"] = report
    return {"folders": folders, "report": rep}
