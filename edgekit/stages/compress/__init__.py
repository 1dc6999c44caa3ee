"""`edgekit compress`: pruning, quantization (QAT / PTQ with NNCF) and distillation, chained."""

from .chain import compress_run
from .recipe import load_recipe_steps
from .steps import DistillStep, PruneStep, QuantStep

__all__ = ["compress_run", "load_recipe_steps", "PruneStep", "QuantStep", "DistillStep"]
