"""Knowledge distillation: the student learns the teacher's softened outputs plus the labels (Hinton et al.)."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def distillation_loss(teacher: nn.Module, *, temperature: float, alpha: float):
    """loss = alpha * T² * KL(teacher_T || student_T) + (1 - alpha) * CE(student, labels)."""
    teacher.eval()
    for p in teacher.parameters():
        p.requires_grad_(False)

    def loss_fn(student, xb, yb):
        with torch.no_grad():
            soft = F.softmax(teacher.to(xb.device)(xb).float() / temperature, dim=1)
        out = student(xb)
        kd = F.kl_div(F.log_softmax(out.float() / temperature, dim=1), soft, reduction="batchmean") * temperature**2
        return alpha * kd + (1 - alpha) * F.cross_entropy(out.float(), yb), out

    return loss_fn
