"""The compression steps. Each takes the chain state, returns the next one, and says what it did."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field, replace

from ...contracts import ModelSpec
from ...data.calibration import check_calib
from ...errors import EdgekitError
from ...nn.resize import changed_shapes
from ...zoo.user import code_record, is_user_ref, resolve_named
from ..train import fit
from .distill import distillation_loss
from .prune import IMPORTANCE, make_permanent, structured_prune, unstructured_prune, weight_sparsity
from .quantize import nncf_config, quantize_ptq
from .state import ChainState


def _check_ratio(value: float, name: str) -> None:
    if not 0 < value < 1:
        raise EdgekitError(f"{name} must be between 0 and 1 (exclusive), got {value}", f"pass e.g. {name.replace('_', '-')} 0.5")


def _finetune(state: ChainState, epochs: int, lr_scale: float, label: str, loss_fn=None):
    config = replace(state.train_config, epochs=epochs, lr=state.train_config.lr * lr_scale)
    return fit(state.model, state.spec.task, state.data, config, loss_fn=loss_fn, progress=state.progress, label=label).model.cpu()


@dataclass
class PruneStep:
    ratio: float
    finetune: int = 10
    unstructured: bool = False
    importance: str = "l2"
    global_pruning: bool = False
    layer_ratios: dict[str, float] = field(default_factory=dict)
    kind: str = "prune"

    def __post_init__(self):
        _check_ratio(self.ratio, "--prune")
        for name, r in self.layer_ratios.items():
            _check_ratio(r, f"layer ratio of {name}")
        if self.importance not in IMPORTANCE:
            raise EdgekitError(f"unknown importance '{self.importance}'", f"use one of {', '.join(IMPORTANCE)}")
        if self.finetune < 0:
            raise EdgekitError("--finetune must be ≥ 0 epochs", "pass e.g. --finetune 10")

    def apply(self, state: ChainState) -> tuple[ChainState, dict]:
        if state.spec.quantization:
            raise EdgekitError("cannot prune a quantized model", "prune first, then quantize (put qat/ptq last)")
        model = state.model
        if self.unstructured:
            unstructured_prune(model, self.ratio)
            state.model = model
            if self.finetune:
                model = _finetune(state, self.finetune, 0.5, f"fine-tune {self.ratio:.0%} sparse")
            make_permanent(model)
            state.model = model
            note = "unstructured sparsity shrinks the file only once compressed (zip/gzip); dense runtimes run it at the same speed"
            return state, {"sparsity": weight_sparsity(model), "note": note}
        original = model
        model, excluded = structured_prune(
            model,
            state.spec.input_shape,
            self.ratio,
            importance=self.importance,
            global_pruning=self.global_pruning,
            layer_ratios=self.layer_ratios,
        )
        resized = changed_shapes(original, model)
        state.spec = state.spec.replace(**{"resized_layers": {**state.spec.resized_layers, **resized}})
        state.model = model
        if self.finetune:
            state.model = _finetune(state, self.finetune, 0.5, f"fine-tune pruned {self.ratio:.0%}")
        details = {"importance": self.importance, "resized_layers": len(resized)}
        if not resized:  # torch-pruning keeps a few channels per layer: a step past that point changes nothing
            details["removed_nothing"] = True
            details["note"] = f"prune {self.ratio:.0%} removed nothing: every prunable layer is already at the pruner's minimum width"
        if excluded:
            details["excluded_layers"] = excluded
            details["note"] = f"left unpruned (the pruner cannot follow their channels): {', '.join(excluded)}"
        return state, details


@dataclass
class QuantStep:
    method: str  # "ptq" or "qat"
    calib: int = 300
    epochs: int = 5
    force_calib: bool = False
    kind: str = "quantize"

    def __post_init__(self):
        if self.method not in ("ptq", "qat"):
            raise EdgekitError(f"unknown quantization method '{self.method}'", "use ptq or qat")
        check_calib(self.calib, self.force_calib)  # before any data is read
        if self.method == "qat" and self.epochs < 1:
            raise EdgekitError("QAT needs at least 1 epoch", "pass e.g. --epochs 5")

    def apply(self, state: ChainState) -> tuple[ChainState, dict]:
        if state.spec.quantization:
            raise EdgekitError("the model is already quantized", "quantize once, as the last step")
        model, calibration = quantize_ptq(
            state.model,
            state.data.x["train"],
            samples=self.calib,
            seed=state.train_config.seed,
            force=self.force_calib,
            progress=state.progress,
        )
        state.model = model
        if self.method == "qat":
            state.model = _finetune(state, self.epochs, 0.1, "quantization-aware training")
        state.spec = state.spec.replace(
            **{
                "bn_folded": True,
                "quantization": {
                    "tool": "nncf",
                    "method": self.method,
                    "bits": 8,
                    "weights": "per-channel",
                    "calibration": calibration,
                    "config": nncf_config(state.model),
                },
            }
        )
        return state, {"method": self.method, "calibration": calibration}


def check_distillable(task_name: str) -> None:
    """Distillation needs the task's distillation loss (tasks without one refuse before any work)."""
    from ...tasks import get_task

    if get_task(task_name).distill_loss is None:
        raise EdgekitError(
            f"the teacher is a {task_name} model, and that task defines no distillation loss",
            "distill from a run of a task that has one (classification), or compress with --prune / --ptq / --qat",
        )


@dataclass
class DistillStep:
    student: str
    width: float = 1.0
    epochs: int = 20
    temperature: float = 4.0
    alpha: float = 0.7
    kind: str = "distill"
    named_by: str | None = None  # the recipe or pipeline file naming the student (None: the user typed it)

    def __post_init__(self):
        # Written so NaN fails each test (NaN compares false): a NaN width or temperature got through `<= 0` before.
        ok = 0 <= self.alpha <= 1 and 0 < self.temperature < math.inf and 0 < self.width < math.inf and self.epochs >= 1
        if not ok:
            raise EdgekitError(
                f"bad distillation settings (alpha={self.alpha}, T={self.temperature}, width={self.width}, epochs={self.epochs})",
                "use 0 ≤ alpha ≤ 1, temperature > 0, width > 0, epochs ≥ 1",
            )

    def student_spec(self, teacher: ModelSpec, *, trust_code: bool = False) -> ModelSpec:
        check_distillable(teacher.task)
        fresh = {"resized_layers": {}, "bn_folded": False, "quantization": {}}
        if is_user_ref(self.student):  # code a file names follows the trust rule (edgekit/trust.py)
            res = resolve_named(self.student, named_by=self.named_by, trust_code=trust_code)
            record, code = code_record(res, self.student)
            return code, teacher.replace(
                **{"name": res.entry, "source": "user", "arch": self.student, "kwargs": {}, "code": record, **fresh}
            )
        from ...recipes import find_recipe

        recipe = find_recipe(self.student)
        kwargs = {**recipe.kwargs, **({"width": self.width} if self.width != 1.0 or "width" in recipe.kwargs else {})}
        return None, teacher.replace(
            **{"name": f"{recipe.name}-w{self.width:g}", "source": "zoo", "arch": recipe.arch, "kwargs": kwargs, "code": None, **fresh}
        )

    def apply(self, state: ChainState) -> tuple[ChainState, dict]:
        import torch

        from ...tasks import get_task
        from ...zoo import build_model
        from ..train.api import check_input_shape

        state.code, spec = self.student_spec(state.spec, trust_code=state.trust_code)
        torch.manual_seed(state.train_config.seed)
        student = build_model(spec)
        check_input_shape(student, spec)
        teacher = copy.deepcopy(state.model)
        state.spec, state.model = spec, student
        loss = distillation_loss(get_task(spec.task), teacher, temperature=self.temperature, alpha=self.alpha)
        config = replace(state.train_config, epochs=self.epochs)
        state.model = fit(
            student, spec.task, state.data, config, loss_fn=loss, progress=state.progress, label=f"distill → {spec.name}"
        ).model.cpu()
        details = {"student": spec.name, "temperature": self.temperature, "alpha": self.alpha, "epochs": self.epochs}
        if self.width < 0.25:
            # Measured (benchmarks/results/distillation.md): students under ~1/4 of the teacher's width did worse
            # distilled than trained on labels alone (capacity gap).
            details["note"] = (
                "distillation hurt students this small in edgekit's benchmark (capacity gap); compare with --alpha 0 (labels only)"
            )
        return state, details


def describe(step) -> str:
    if isinstance(step, PruneStep):
        return f"prune {step.ratio:.0%} {'unstructured' if step.unstructured else 'structured'}"
    if isinstance(step, QuantStep):
        return f"{step.method} int8"
    return f"distill → {step.student} x{step.width:g}"
