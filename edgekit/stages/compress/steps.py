"""The compression steps. Each takes the chain state, returns the next one, and says what it did."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, replace

from ...contracts import ModelSpec
from ...errors import EdgekitError
from ...zoo.user import code_record, is_user_ref, resolve_named
from ..train import fit
from .distill import distillation_loss
from .prune_step import PruneStep
from .quant_step import QuantStep  # noqa: F401  (the steps are imported from here)
from .state import ChainState


def check_distillable(task_name: str) -> None:
    """Distillation needs the task's distillation loss (tasks without one refuse before any work)."""
    from ...tasks import get_task

    if get_task(task_name).distill_loss is None:
        raise EdgekitError(
            f"the teacher is a {task_name} model, and that task defines no distillation loss",
            "distill from a run of a task that has one (classification), or drop --distill-to / --distill-from-parent",
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
        return step.describe()
    if isinstance(step, QuantStep):
        return f"{step.method} int8"
    return f"distill → {step.student} x{step.width:g}"
