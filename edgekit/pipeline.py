"""`edgekit pipeline`: train → compress → export → bench from one TOML file, resuming at the first unfinished stage.

Each stage writes its own folder under the pipeline's output folder, atomically; a finished folder is the
record that the stage is done, so a re-run skips it (an interrupted training run resumes from its last epoch).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .errors import EdgekitError
from .fsutil import read_toml
from .resources import data_dir
from .runs import CHECKPOINT_DIR, is_run

_KEYS = {"": {"name", "description", "train", "compress", "export", "bench"},
         "train": {"model", "dataset", "epochs", "batch_size", "lr", "weight_decay", "seed", "input_shape"},
         "export": {"target", "calib"},
         "bench": {"device", "min_queries", "min_seconds", "warmup", "threads", "timeout", "python", "ssh_config"}}


@dataclass
class Pipeline:
    name: str
    train: dict
    compress: list[dict]
    export: dict
    bench: dict
    path: Path


def load_pipeline(path: Path | None) -> Pipeline:
    path = Path(path) if path else data_dir("pipelines") / "digits.toml"
    data = read_toml(path, "pipeline file", "check the path (the default is the embedded digits pipeline)")
    for section, allowed in _KEYS.items():
        table = data if section == "" else data.get(section, {})
        for key in table:
            if key not in allowed:
                raise EdgekitError(f"{path}: unknown key '{section + '.' if section else ''}{key}'", f"allowed: {', '.join(sorted(allowed))}")
    for key in ("train", "export"):
        if key not in data:
            raise EdgekitError(f"{path}: missing [{key}] table", "see pipelines/digits.toml")
    names = [c.get("name") for c in data.get("compress", [])]
    if any(not n for n in names) or len(set(names)) != len(names):
        raise EdgekitError(f"{path}: every [[compress]] step needs a unique name", "add name = \"...\" to each step")
    for spec in data.get("compress", []):
        _compress_step(spec)  # reject a bad step now, not after training
    return Pipeline(data.get("name", path.stem), data["train"], data.get("compress", []), data["export"], data.get("bench", {}), path)


def _compress_step(spec: dict):
    from .compress.recipe import load_recipe_steps_from_tables

    return load_recipe_steps_from_tables([{k: v for k, v in spec.items() if k != "name"}], where=f"[[compress]] {spec['name']}")[0]


def run_pipeline(pipeline: Pipeline, out: Path, *, device: str | None = None, say: Callable[[str], None] = print) -> dict:
    """Runs (or resumes) every stage; returns {stage: folder}. Bench budget failures propagate (exit 1)."""
    from .bench import Measurement, bench
    from .compress import compress_run
    from .export import export_run
    from .train import train_run

    out = Path(out)
    folders: dict[str, Path] = {}
    train_dir = out / "train"
    t = dict(pipeline.train)
    if is_run(train_dir):
        say(f"[skip] train: {train_dir} is finished")
    elif (train_dir / CHECKPOINT_DIR).is_dir():
        say(f"[resume] train: continuing {train_dir} from its last finished epoch")
        train_run(resume=train_dir)
    else:
        say(f"[run] train {t.get('model', 'digits-cnn')} on {t.get('dataset', 'its recipe data set')}")
        shape = tuple(t.pop("input_shape")) if "input_shape" in t else None
        train_run(t.pop("model", "digits-cnn"), t.pop("dataset", None), out=train_dir, input_shape=shape, **t)
    folders["train"] = train_dir
    parent = train_dir
    for spec in pipeline.compress:
        step_dir = out / spec["name"]
        if is_run(step_dir):
            say(f"[skip] {spec['name']}: {step_dir} is finished")
        else:
            say(f"[run] compress {spec['name']} ({spec['kind']})")
            compress_run(parent, [_compress_step(spec)], step_dir)
        folders[spec["name"]] = parent = step_dir
    target = pipeline.export.get("target", "x86-64")
    artifacts = []
    quantized = {s["name"] for s in pipeline.compress if s["kind"] in ("qat", "ptq")}
    for stage, run in folders.items():  # every stage: the report compares fp32, compressed and int8 side by side
        art_dir = out / "dist" / stage
        precision = "int8" if stage in quantized else "fp32"
        if (art_dir / "deploy.json").is_file():
            say(f"[skip] export {stage}: {art_dir} is finished")
        else:
            say(f"[run] export {stage} for {target} ({precision})")
            export_run(run, target=target, precision=precision, out=art_dir, calib=pipeline.export.get("calib", 300))
        artifacts.append(art_dir)
    b = dict(pipeline.bench)
    report = out / "report" / "report.html"
    say(f"[run] bench {len(artifacts)} artifacts on {device or b.get('device', 'local')}")
    m = Measurement(**{k: b[k] for k in ("min_queries", "min_seconds", "warmup", "threads", "timeout") if k in b})
    bench(artifacts, device=device or b.get("device", "local"), measurement=m, report=report,
          python=b.get("python"), ssh_config=b.get("ssh_config"))
    folders["report"] = report
    return folders
