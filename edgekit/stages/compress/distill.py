"""Knowledge distillation: the student learns the teacher's outputs (the task's distillation loss, e.g. softened
logits for classification, Hinton et al.) plus the labels (the task's loss)."""

from __future__ import annotations

import torch
import torch.nn as nn


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
