"""Device profiles: targets/*.toml (or a user's TOML by path), validated against a schema."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import EdgekitError
from .fsutil import read_toml
from .resources import data_dir

NUM = (int, float)
FORMATS = ("onnx", "tflite", "micro", "edgetpu")
PRECISIONS = ("fp32", "fp16", "int8", "dynamic")
RUNTIMES = ("onnxruntime", "litert", "tflite-micro")

# section → key → (types, required)
SCHEMA: dict[str, dict[str, tuple[tuple, bool]]] = {
    "": {"name": ((str,), True), "aliases": ((list,), False), "description": ((str,), True), "kind": ((str,), True)},
    "hardware": {"cpu": ((str,), True), "cores": ((int,), True), "clock_mhz": (NUM, True), "ram_mb": (NUM, False),
                 "ram_kb": (NUM, False), "flash_kb": (NUM, False), "sram_kb": (NUM, False), "accelerator": ((str,), True),
                 "peak_gmacs_fp32": (NUM, True), "peak_gmacs_fp16": (NUM, False), "peak_gmacs_int8": (NUM, True),
                 "memory_bandwidth_gbs": (NUM, True)},
    "runtime": {"runtimes": ((list,), True), "preferred_format": ((str,), True), "preferred_precision": ((str,), True),
                "threads": ((int,), True), "full_int8_only": ((bool,), True), "emulation_cpu": ((str,), False)},
    "budgets": {"latency_p90_ms": (NUM, True), "min_accuracy": (NUM, True), "max_memory_mb": (NUM, True),
                "min_int8_agreement": (NUM, True)},
}


@dataclass(frozen=True)
class Target:
    name: str
    aliases: tuple[str, ...]
    description: str
    kind: str
    hardware: dict
    runtime: dict
    budgets: dict
    path: Path

    @property
    def is_mcu(self) -> bool:
        return self.kind == "mcu"

    def ram_bytes(self) -> int | None:
        hw = self.hardware
        return int(hw["ram_kb"] * 1024) if "ram_kb" in hw else int(hw["ram_mb"] * 1024 * 1024) if "ram_mb" in hw else None

    def flash_bytes(self) -> int | None:
        return int(self.hardware["flash_kb"] * 1024) if "flash_kb" in self.hardware else None

    def to_json(self) -> dict:
        return {"name": self.name, "description": self.description, "kind": self.kind, "hardware": self.hardware,
                "runtime": self.runtime, "budgets": self.budgets}


def _fail(path: Path, key: str, problem: str) -> EdgekitError:
    return EdgekitError(f"{path}: {problem} '{key}'", "fix that key (see targets/rpi4.toml for a complete profile)")


def _validate(data: dict, path: Path) -> None:
    for section, keys in SCHEMA.items():
        table = data if section == "" else data.get(section)
        if table is None:
            raise _fail(path, section, "missing section")
        if not isinstance(table, dict):
            raise _fail(path, section, "section must be a table:")
        for key, value in table.items():
            if section == "" and key in SCHEMA and key:
                continue
            full = f"{section}.{key}" if section else key
            if key not in keys:
                raise _fail(path, full, "unknown key")
            types, _ = keys[key]
            if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
                raise _fail(path, full, f"wrong type ({type(value).__name__}, expected {'/'.join(t.__name__ for t in types)}) for")
        for key, (_, required) in keys.items():
            if required and key not in table:
                raise _fail(path, f"{section}.{key}" if section else key, "missing key")
    rt = data["runtime"]
    if rt["preferred_format"] not in FORMATS:
        raise _fail(path, "runtime.preferred_format", f"must be one of {', '.join(FORMATS)}:")
    if rt["preferred_precision"] not in PRECISIONS:
        raise _fail(path, "runtime.preferred_precision", f"must be one of {', '.join(PRECISIONS)}:")
    for r in rt["runtimes"]:
        if r not in RUNTIMES:
            raise _fail(path, "runtime.runtimes", f"unknown runtime '{r}' in")


def load_target(path: Path) -> Target:
    path = Path(path)
    data = read_toml(path, "target file", "check the --target path")
    _validate(data, path)
    return Target(name=data["name"], aliases=tuple(data.get("aliases", [])), description=data["description"],
                  kind=data["kind"], hardware=data["hardware"], runtime=data["runtime"], budgets=data["budgets"], path=path)


def all_targets() -> dict[str, Target]:
    return {t.name: t for t in (load_target(p) for p in sorted(data_dir("targets").glob("*.toml")))}


def find_target(name_or_path: str) -> Target:
    if name_or_path.endswith(".toml") or "/" in name_or_path:
        return load_target(Path(name_or_path))
    targets = all_targets()
    for t in targets.values():
        if name_or_path == t.name or name_or_path in t.aliases:
            return t
    raise EdgekitError(f"unknown target '{name_or_path}'", f"known targets: {', '.join(targets)} (or pass a .toml profile)")
