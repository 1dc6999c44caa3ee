"""LiteRT's int8 HARD_SWISH, measured in LiteRT: the frozen QAT model uses it where its artifact keeps the op.

LiteRT computes int8 hard-swish in 16-bit fixed point, which lands one step off the correctly rounded value near ties
(0.39% of PP-LCNet's hard-swish outputs, benchmarks/results/int8_references.md); across its 28 hard-swish layers that
moved 3 of 270 test predictions between the QAT model and its TFLite artifact (98.89% agreement in qat_tflite.md as
stop 33 recorded it; 100% with the table). The op is elementwise on int8 with fixed scales, so all it computes
is a 256-entry table per layer: a one-op-per-layer model made here (the flatbuffer schema LiteRT ships, no
converter) runs every int8 value through the runtime's own kernel once. Measured, not re-implemented: the table is
whatever the installed LiteRT computes, and the board's aarch64 LiteRT (NEON kernel, under emulation) computes the
same tables (tests/test_litert_hardswish.py).
"""

from __future__ import annotations

import functools

import numpy as np

INT8_VALUES = np.arange(-128, 128, dtype=np.int8)


def hardswish_tables(qparams: list[tuple[float, int, float, int]]) -> list[np.ndarray]:
    """For each (input scale, input zero point, output scale, output zero point): LiteRT's int8 HARD_SWISH output
    for every int8 input, -128 first."""
    return [table.copy() for table in _measured(tuple((float(a), int(b), float(c), int(d)) for a, b, c, d in qparams))]


@functools.lru_cache(maxsize=64)
def _measured(qparams: tuple) -> tuple[np.ndarray, ...]:
    if not qparams:
        return ()
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=probe_model(qparams))
    interpreter.allocate_tensors()
    for detail in interpreter.get_input_details():
        interpreter.set_tensor(detail["index"], INT8_VALUES)
    interpreter.invoke()
    return tuple(interpreter.get_tensor(d["index"]).copy() for d in interpreter.get_output_details())


def probe_model(qparams: tuple) -> bytes:
    """A TFLite model of one HARD_SWISH per entry, each from its own int8 input of 256 values to its own output."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    code = schema.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.HARD_SWISH
    code.version = 1  # int8 HARD_SWISH is version 1 of the op
    graph = schema.SubGraphT()
    graph.tensors, graph.operators, graph.inputs, graph.outputs = [], [], [], []
    for i, (in_scale, in_zero, out_scale, out_zero) in enumerate(qparams):
        for name, scale, zero in (("in", in_scale, in_zero), ("out", out_scale, out_zero)):
            tensor = schema.TensorT()
            tensor.name, tensor.shape, tensor.type, tensor.buffer = f"{name}{i}".encode(), [256], schema.TensorType.INT8, 0
            tensor.quantization = schema.QuantizationParametersT()
            tensor.quantization.scale, tensor.quantization.zeroPoint = [scale], [zero]
            graph.tensors.append(tensor)
        op = schema.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = 0, [2 * i], [2 * i + 1]
        graph.operators.append(op)
        graph.inputs.append(2 * i)
        graph.outputs.append(2 * i + 1)
    model = schema.ModelT()
    model.version, model.operatorCodes, model.subgraphs, model.buffers = 3, [code], [graph], [schema.BufferT()]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())
