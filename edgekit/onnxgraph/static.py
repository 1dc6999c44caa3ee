"""Constant inputs of onnx2torch's modules made Python values, so the converted module traces like a hand-written one.

onnx2torch keeps a Reshape target as a buffer and decides `torch.any(shape == 0)` at run time: torch.export (LiteRT,
ExecuTorch) cannot guard on that data-dependent value, and NNCF's tracer loses the shape of the int64 edge. A Reshape
whose target is a constant becomes `StaticReshape(target)`, its buffer removed. The pass runs on every build of the
graph's module (import and reload alike), so the run's state dict always matches.
"""

from __future__ import annotations

import torch
import torch.nn as nn


class StaticReshape(nn.Module):
    """ONNX Reshape with a constant target: 0 keeps the input's size on that axis, -1 is inferred."""

    def __init__(self, shape: list[int]):
        super().__init__()
        self.shape = [int(v) for v in shape]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape([x.shape[i] if v == 0 else v for i, v in enumerate(self.shape)])

    def extra_repr(self) -> str:
        return f"shape={self.shape}"


class Converted(nn.Module):
    """The converted torch.fx module inside a plain module: NNCF takes a torch.fx.GraphModule for a torch.export
    graph (its FX backend) and fails on onnx2torch's; around it, NNCF's PyTorch backend traces it like any model."""

    def __init__(self, graph: nn.Module):
        super().__init__()
        self.graph = graph

    def forward(self, x: torch.Tensor):
        return self.graph(x)


def make_static(module) -> int:
    """Replace the constant-target Reshapes of a converted torch.fx module in place; returns how many."""
    graph = module.graph
    replaced = 0
    for node in list(graph.nodes):
        if node.op != "call_module" or type(module.get_submodule(node.target)).__name__ != "OnnxReshape":
            continue
        if len(node.args) != 2 or node.kwargs or getattr(node.args[1], "op", None) != "get_attr":
            continue
        target = module.get_buffer(node.args[1].target)
        if target.dim() != 1 or target.dtype not in (torch.int64, torch.int32):
            continue
        module.add_submodule(node.target, StaticReshape(target.tolist()))
        node.args = (node.args[0],)
        replaced += 1
    if replaced:
        graph.eliminate_dead_code()
        used = {n.target for n in graph.nodes if n.op == "get_attr"}
        for name, _ in list(module.named_buffers()):
            if name.startswith("initializers.") and name not in used:
                delattr(module.initializers, name.split(".", 1)[1])
        module.recompile()
    return replaced
