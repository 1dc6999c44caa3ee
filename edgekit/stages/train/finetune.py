"""Fine-tuning from pretrained weights (`edgekit train --weights FILE [--freeze [N]]`). The file is read by the same
safe reader as `edgekit import` (edgekit/checkpoints.py: torch.load(weights_only=True), never a full unpickle) and
fitted to the architecture; when the class count differs, the classifier — the last Linear/Conv with one output
per class — keeps its fresh initialisation and is named in one line. `--freeze` trains that classifier alone
(backbone weights and batch-norm statistics fixed) for every epoch, or for the first N."""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn as nn

from ...checkpoints import Checkpoint
from ...errors import EdgekitError
from ...nn.fit_weights import find_classifier, fit_and_load

FIX = "pass the --model (and --model-arg) the weights were trained as"


def _under(name: str, head: str) -> bool:
    return name == head or name.startswith(head + ".")


@dataclass(frozen=True)
class Freeze:
    head: str  # the classifier: the only module trained while the backbone is frozen
    epochs: int  # the backbone is frozen in epochs [0, epochs)

    def apply(self, model: nn.Module, epoch: int) -> None:
        """Called after model.train() each epoch: frozen parameters get no gradient (AdamW skips them), frozen
        batch-norm layers keep their running statistics."""
        frozen = epoch < self.epochs
        for name, p in model.named_parameters():
            if not _under(name, self.head):
                p.requires_grad_(not frozen)
        if frozen:
            for name, m in model.named_modules():
                if name and not _under(name, self.head) and isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()


def freeze_epochs(freeze, epochs: int) -> int:
    """--freeze (True / all), --freeze N (the first N epochs), or not at all (0)."""
    if freeze is None or freeze is False:
        return 0
    if freeze is True or freeze == -1:  # -1: the bare flag on the command line
        return epochs
    if isinstance(freeze, bool) or not isinstance(freeze, int) or freeze < 1:
        raise EdgekitError(f"freeze={freeze!r}: give True (every epoch) or a number of epochs ≥ 1", "pass --freeze or --freeze N")
    return min(freeze, epochs)


def plan_freeze(net: nn.Module, spec, epochs: int) -> Freeze:
    head = find_classifier(net, spec.input_shape, spec.num_classes)
    if head is None:
        raise EdgekitError(
            f"--freeze trains the classifier alone, and {spec.name} has none edgekit can find (no Linear/Conv layer with "
            f"one output per class{'' if spec.num_classes else ': the model has no classes'})",
            "drop --freeze",
        )
    return Freeze(head=head, epochs=epochs)


def load_pretrained(net: nn.Module, checkpoint: Checkpoint, spec, say):
    """Load a weights file's tensors (read_checkpoint) into `net`, built for this data set's classes; returns the
    manifest's record of the file."""
    fitted = fit_and_load(checkpoint.state, net, spec, what=f"the weights in {checkpoint.path}", new_classifier=True, fix=FIX)
    said = checkpoint.note(fitted.notes())
    if said:
        say(said)
    if fitted.reinitialised:
        had = f"{fitted.head_outputs} outputs" if fitted.head_outputs else "no weights"
        say(
            f"{checkpoint.path.name}: classifier {fitted.reinitialised} re-initialised: it has {had} there, "
            f"the data set {spec.num_classes} classes"
        )
    return checkpoint.record(fitted.reinitialised)
