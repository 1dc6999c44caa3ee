"""Device profiles: targets/*.toml (or a user's TOML by path), validated against a typed schema."""

from __future__ import annotations

import platform
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal, Optional

from pydantic import Field, field_validator, model_validator

from .errors import EdgekitError
from .schema import Strict, check_plain_name, parse
from .util.fsutil import read_toml
from .util.resources import data_dir

PRECISIONS = ("fp32", "fp16", "int8", "dynamic")


# The estimate divides by these and the budgets compare against them: zero, negative or out-of-range values are
# refused on read (a cores = 0 profile used to fail with ZeroDivisionError after the whole build).
Positive = Annotated[float, Field(gt=0)]
Share = Annotated[float, Field(ge=0, le=1)]


class Hardware(Strict):
    cpu: str
    cores: Annotated[int, Field(ge=1, le=4096)]
    clock_mhz: Positive
    ram_mb: Optional[Positive] = None
    ram_kb: Optional[Positive] = None
    flash_kb: Optional[Positive] = None
    sram_kb: Optional[Positive] = None
    accelerator: str
    peak_gmacs_fp32: Positive
    peak_gmacs_fp16: Optional[Positive] = None
    peak_gmacs_int8: Positive
    memory_bandwidth_gbs: Positive
    # x86 only: the ISA flags the int8 scheme depends on ("host" = the CPU running edgekit).
    isa: Optional[list[str]] = None


class RuntimeSection(Strict):
    runtimes: list[str]
    preferred_format: str
    preferred_precision: Literal["fp32", "fp16", "int8", "dynamic", "auto"]
    threads: int
    full_int8_only: bool

    @field_validator("preferred_format")
    @classmethod
    def _format(cls, v):
        from .formats import FORMATS

        if v not in FORMATS:
            raise ValueError(f"must be one of {', '.join(FORMATS)}")
        return v

    @field_validator("runtimes")
    @classmethod
    def _runtimes(cls, v):
        from .device.runtimes import RUNTIMES

        unknown = [r for r in v if r not in RUNTIMES]
        if unknown or not v:
            raise ValueError(f"unknown runtime '{unknown[0] if unknown else ''}' (known: {', '.join(RUNTIMES)})")
        return v

    @field_validator("threads")
    @classmethod
    def _threads(cls, v):
        if not 1 <= v <= 256:
            raise ValueError("must lie in 1..256")
        return v


# Quality budgets before [budgets.quality] held them: named in the message that refuses them.
MOVED = {"min_accuracy": "accuracy", "min_auc": "auc", "max_mse": "mse"}


class Budgets(Strict):
    latency_p90_ms: Positive
    max_memory_mb: Positive
    min_int8_agreement: Share
    # {metric = limit} on the device's quality; each task declares the metrics it scores and which way each goes
    # (a "min" limit is a floor). A target serves many tasks: a metric another task declares is skipped for this one.
    quality: dict[str, float] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _moved(cls, data):
        old = [k for k in MOVED if isinstance(data, dict) and k in data]
        if old:
            k = old[0]
            raise ValueError(f"'{k}' moved under [budgets.quality] as `{MOVED[k]} = {data[k]}`")
        return data

    @field_validator("quality")
    @classmethod
    def _known(cls, v):
        from .tasks import budget_metrics

        known = budget_metrics()
        unknown = sorted(set(v) - set(known))
        if unknown:
            raise ValueError(f"no task scores a metric '{unknown[0]}' (budgetable: {', '.join(sorted(known))})")
        return v


class TargetProfile(Strict):
    name: str  # the default output folder is dist/<name>-...: a plain name, so it stays inside dist/
    aliases: list[str] = Field(default_factory=list)
    description: str
    kind: str
    hardware: Hardware
    runtime: RuntimeSection
    budgets: Budgets

    @field_validator("name")
    @classmethod
    def _name(cls, v):
        return check_plain_name(v, "the target name")


class Target:
    """A validated profile plus where it came from."""

    def __init__(self, profile: TargetProfile, path: Path | None):
        self.profile, self.path = profile, path

    name = property(lambda self: self.profile.name)
    aliases = property(lambda self: tuple(self.profile.aliases))
    description = property(lambda self: self.profile.description)
    kind = property(lambda self: self.profile.kind)
    hardware = property(lambda self: self.profile.hardware)
    runtime = property(lambda self: self.profile.runtime)
    budgets = property(lambda self: self.profile.budgets)

    def ram_bytes(self) -> int | None:
        hw = self.hardware
        return int(hw.ram_kb * 1024) if hw.ram_kb is not None else int(hw.ram_mb * 1024 * 1024) if hw.ram_mb is not None else None

    def flash_bytes(self) -> int | None:
        return int(self.hardware.flash_kb * 1024) if self.hardware.flash_kb is not None else None

    @cached_property
    def isa(self) -> set[str] | None:
        """x86 ISA flags of the target's CPU (None off x86); "host" reads this machine's /proc/cpuinfo."""
        flags = self.hardware.isa
        if flags is None:
            return None
        if flags == ["host"]:
            return host_isa()
        return set(flags)

    def is_host(self) -> bool:
        """True when this machine can stand for the target (an x86-64 profile measured on x86-64)."""
        return self.kind == "linux-x86_64" and platform.machine() in ("x86_64", "AMD64")

    def to_json(self) -> dict:
        return self.profile.model_dump(mode="json")


def host_isa() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def load_target(path: Path) -> Target:
    path = Path(path)
    data = read_toml(path, "target file", "check the --target path")
    profile = parse(TargetProfile, data, str(path), "fix that key (see targets/rpi4.toml for a complete profile)")
    return Target(profile, path)


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
