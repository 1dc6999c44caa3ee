"""Knowledge distillation: the student learns the teacher's outputs (the task's distillation loss, e.g. softened
logits for classification, Hinton et al.) plus the labels (the task's loss)."""

from __future__ import annotations

import torch
import torch.nn as nn

from ...tasks import get_task

# A fine-tune that learns from the float model it started from (pruning's fine-tune, QAT with --distill-from-parent)
PARENT_TEMPERATURE, PARENT_ALPHA = 4.0, 0.7


def distillation_loss(task, teacher: nn.Module, *, temperature: float, alpha: float):
    """loss = alpha * task.distill_loss(student, teacher, T) + (1 - alpha) * task.loss(student, labels)."""
    teacher.eval()
    for p in teacher.parameters():
        p.requires_grad_(False)

    def loss_fn(student, xb, yb):
        with torch.no_grad():
            soft = teacher.to(xb.device)(xb)
        out = student(xb)
        return alpha * task.distill_loss(out, soft, temperature) + (1 - alpha) * task.loss(out, xb, yb), out

    return loss_fn


def parent_loss(task_name: str, teacher: nn.Module | None):
    """The fine-tune loss distilled from `teacher`, the float model the step started from (None: fit's default, the
    task's loss on the labels)."""
    if teacher is None:
        return None
    return distillation_loss(get_task(task_name), teacher, temperature=PARENT_TEMPERATURE, alpha=PARENT_ALPHA)
