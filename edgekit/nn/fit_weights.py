"""A checkpoint's tensors made to fit an architecture: training wrappers' prefixes stripped (DDP `module.`, Lightning
`model.`, torch.compile `_orig_mod.`) only where that makes more names match the model's, half-precision tensors
widened to the model's float32 (exact), and what still does not fit named in one line — the first missing and
unexpected keys and the first layer whose shape differs. Fine-tuning lets the classifier alone differ (another class
count, or a headless backbone): it keeps the fresh initialisation the architecture was built with."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn as nn

from ..errors import EdgekitError, InternalError
from .weights import check_weights

PREFIXES = ("module.", "_orig_mod.", "model.")
# Batch-norm step counters: older checkpoints lack them, and nothing reads them with the default momentum.
COUNTER = "num_batches_tracked"
_WIDEN = (torch.float16, torch.bfloat16)
_HEADS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


@dataclass
class Fitted:
    state: dict[str, torch.Tensor]
    stripped: list[str] = field(default_factory=list)  # prefixes taken off every name
    dropped: list[str] = field(default_factory=list)  # names outside that prefix (a loss's buffers, a teacher)
    widened: str | None = None  # the half-precision dtype widened to the model's
    reinitialised: str | None = None  # the classifier layer that keeps its fresh initialisation
    head_outputs: int | None = None  # how many outputs the weights' classifier had (None: it had none)

    def notes(self) -> list[str]:
        """What was changed on the way in, as fragments of one note line."""
        said = []
        if self.stripped:
            said.append(f"took '{''.join(self.stripped)}' off its names")
        if self.dropped:
            said.append(f"ignored {len(self.dropped)} tensors outside the model ({', '.join(self.dropped[:3])})")
        if self.widened:
            said.append(f"widened its {self.widened} weights to float32 (exact)")
        return said


def strip_prefixes(state: dict, expected: set[str]) -> tuple[dict, list[str], list[str]]:
    """Take a wrapper's prefix off the names while that makes strictly more of them the model's."""
    stripped: list[str] = []
    dropped: list[str] = []
    while True:
        matched = len(expected & set(state))
        for prefix in PREFIXES:
            inner = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
            if inner and len(expected & set(inner)) > matched:
                dropped += [k for k in state if not k.startswith(prefix)]
                state, stripped = inner, [*stripped, prefix]
                break
        else:
            return state, stripped, dropped


def find_classifier(net: nn.Module, input_shape, num_classes: int | None) -> str | None:
    """The layer that produces the logits: the last Linear/Conv to run in forward() with one output per class."""
    if not num_classes:
        return None
    ran: list[str] = []
    hooks = [
        m.register_forward_hook(lambda mod, i, o, name=name: ran.append(name))
        for name, m in net.named_modules()
        if isinstance(m, _HEADS) and (getattr(m, "out_features", None) or getattr(m, "out_channels", None)) == num_classes
    ]
    was_training = net.training
    try:
        with torch.no_grad():
            net.eval()(torch.zeros(2, *input_shape))
    finally:
        for h in hooks:
            h.remove()
        net.train(was_training)
    return ran[-1] if ran else None


def _listed(keys: list[str], most: int = 3) -> str:
    return ", ".join(keys[:most]) + (" …" if len(keys) > most else "")


def _shape(t) -> str:
    return str(list(t.shape))


def fit_state(
    state: dict,
    net: nn.Module,
    *,
    what: str,
    arch: str,
    input_shape,
    num_classes: int | None,
    new_classifier: bool,
    fix: str,
) -> Fitted:
    """`state` renamed and checked to load into `net` (strict, but for batch-norm counters and, with `new_classifier`,
    the classifier). `what` names the weights in messages ("the weights in FILE"), `arch` the architecture."""
    expected = net.state_dict()
    state, stripped, dropped = strip_prefixes(dict(state), set(expected))
    missing = [k for k in expected if k not in state and not k.endswith(COUNTER)]
    unexpected = [k for k in state if k not in expected]
    differ = [k for k in state if k in expected and tuple(state[k].shape) != tuple(expected[k].shape)]
    head = find_classifier(net, input_shape, num_classes) if (missing or differ) else None
    own = [k for k in expected if head and k.startswith(head + ".")]
    head_only = bool(own) and not unexpected and set(missing + differ) <= set(own)
    outputs = int(state[own[0]].shape[0]) if head_only and own[0] in state and state[own[0]].ndim else None
    if head_only and new_classifier:
        state = {k: v for k, v in state.items() if k not in own}
        missing, differ = [], []
    elif head_only and differ and outputs:
        raise EdgekitError(
            f"{what} do not fit {arch} on this data: its classifier {head} has {outputs} outputs, the data set {num_classes} classes",
            f"import it with the data set it was trained on, or fine-tune it on this one: edgekit train --model {arch} --weights FILE",
        )
    if missing or unexpected or differ:
        said = [f"unknown {_listed(unexpected)}" if unexpected else "", f"missing {_listed(missing)}" if missing else ""]
        if differ:
            k = differ[0]
            said.append(f"layer {k} is {_shape(state[k])} there, {_shape(expected[k])} in {arch}")
        raise EdgekitError(f"{what} do not fit {arch}: {'; '.join(s for s in said if s)}", fix)
    widened = None
    for k, v in list(state.items()):
        if v.dtype in _WIDEN and expected[k].dtype == torch.float32:
            widened, state[k] = str(v.dtype).replace("torch.", ""), v.float()
    if not (head_only and new_classifier):
        return Fitted(state, stripped, dropped, widened)
    return Fitted(state, stripped, dropped, widened, reinitialised=head, head_outputs=outputs)


def load_fitted(net: nn.Module, fitted: Fitted) -> None:
    """Load what fit_state() checked: only batch-norm counters and a new classifier may be absent."""
    result = net.load_state_dict(fitted.state, strict=False)
    left = [
        k
        for k in result.missing_keys
        if not k.endswith(COUNTER) and not (fitted.reinitialised and k.startswith(fitted.reinitialised + "."))
    ]
    if left or result.unexpected_keys:  # fit_state() let through what load_state_dict refuses: edgekit's bug
        raise InternalError(f"fit_state() passed keys that do not load: {_listed(left + result.unexpected_keys)}")


def fit_and_load(state: dict, net: nn.Module, spec, *, what: str, new_classifier: bool, fix: str) -> Fitted:
    """A weights file's tensors into `net`, built for `spec` (a ModelSpec): fitted (fit_state), every tensor checked
    (check_weights) and loaded (load_fitted). `edgekit import` and `train --weights` take weights in this one way."""
    fitted = fit_state(
        state,
        net,
        what=what,
        arch=spec.name,
        input_shape=spec.input_shape,
        num_classes=spec.num_classes,
        new_classifier=new_classifier,
        fix=fix,
    )
    check_weights(fitted.state, net, what, fix)
    load_fitted(net, fitted)
    return fitted
