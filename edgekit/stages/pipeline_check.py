"""What a pipeline file may do, checked before its first stage writes anything.

A pipeline file is data: it may come from a colleague or a repository. It may name zoo models, recipes, data sets,
targets, formats, measurement settings and devices. Whatever would make this machine import code or run a program
needs --trust-code, or the same option given on the command line:
  - user model code ([train] model, a recipe's `arch`, a distillation `student`) follows the trust rule of
    edgekit/trust.py: zoo models, torchvision/timm constructors and the user's own unchanged files need no flag;
  - [bench] python runs that program here; [bench] ssh_config can run local shell commands (ProxyCommand).
An ssh:// device needs nothing: edgekit always checks host keys, so it connects only to hosts already in the
user's known_hosts.
"""

from __future__ import annotations

from ..errors import EdgekitError, UntrustedCode


def _in(where: str, key: str, e: EdgekitError, fix: str | None = None) -> EdgekitError:
    return EdgekitError(f"{where}: {key}: {e.problem}", fix or e.fix)


def check_values(pipeline) -> None:
    """The target, and each format at each stage's precision, looked up now (a typo is one line before training)."""
    from ..targets import find_target
    from .export.plan import plan_export

    f, where = pipeline.file, str(pipeline.path)
    try:
        target = find_target(f.export.target)
    except EdgekitError as e:
        raise _in(where, "[export] target", e) from None
    quantized = any(s.get("kind") in ("qat", "ptq") for s in f.compress)
    for precision in ("fp32", *(["int8"] if quantized else [])):
        for fmt in f.export.formats or [None]:
            try:
                plan_export(target, quantized_run=precision == "int8", fmt=fmt, precision=precision)
            except EdgekitError as e:
                key = "[export] formats" if fmt else "[export] target"
                raise _in(where, key, e, f"change {key} in the pipeline file (see `edgekit targets`)") from None
    for stage, step in zip(f.compress, pipeline.steps):  # a QAT stage's trained ranges must reach every format it exports to
        if getattr(step, "method", None) != "qat":
            continue
        trained = {"method": "qat", "quantizer": step.quantizer, "for": step.qat_for}
        for fmt in f.export.formats or [None]:
            try:
                plan_export(target, quantized_run=True, fmt=fmt, precision="int8", trained=trained)
            except EdgekitError as e:
                key = f"[[compress]] {stage['name']}"
                raise _in(where, key, e, f"set qat_for in {key} to the format exported, or export one format per QAT stage") from None


def check_run(pipeline, *, device: str | None, trust_code: bool, python: str | None, ssh_config: str | None) -> None:
    """The device's form, and what the file would make this machine run: before any stage, so nothing is written."""
    from ..emulate.boards import BOARDS
    from .bench.transports import parse_device

    f, where = pipeline.file, str(pipeline.path)
    dev = device or f.bench.device
    if dev.startswith("emu:"):
        if dev[4:] not in BOARDS:
            raise EdgekitError(
                f"{where}: [bench] device: unknown board '{dev[4:]}'", f"use one of: {', '.join(f'emu:{b}' for b in BOARDS)}"
            )
    else:
        try:
            parse_device(dev)  # the form only: nothing connects yet
        except EdgekitError as e:
            raise _in(where, "[bench] device" if device is None else "--device", e) from None
    if not trust_code:
        for key, value, flag in (("python", f.bench.python, python), ("ssh_config", f.bench.ssh_config, ssh_config)):
            if value is not None and flag is None:
                raise UntrustedCode(
                    f"{where}: [bench] {key} = {value!r} would run a program on this machine",
                    f"read the pipeline file, then pass --trust-code (or give --{key.replace('_', '-')} yourself)",
                )
    check_code(pipeline, trust_code=trust_code)


def check_code(pipeline, *, trust_code: bool) -> None:
    """Every piece of user code the file names passes the one trust rule (edgekit/trust.py)."""
    from .. import trust
    from ..recipes import find_recipe
    from ..zoo.user import is_user_ref

    f, where = pipeline.file, str(pipeline.path)
    model = f.train.model
    if is_user_ref(model):
        trust.check(model, named_by=f"{where} [train] model", trust_code=trust_code, kwargs=f.train.model_args)
    else:
        try:
            recipe = find_recipe(model)
        except EdgekitError as e:
            raise _in(where, "[train] model", e) from None
        if is_user_ref(recipe.arch):
            kwargs = {**recipe.kwargs, **f.train.model_args}
            trust.check(recipe.arch, named_by=recipe.path or model, trust_code=trust_code, kwargs=kwargs)
    for step in pipeline.steps:
        student = getattr(step, "student", None)
        if student is not None and is_user_ref(student):
            trust.check(student, named_by=step.named_by or where, trust_code=trust_code)
