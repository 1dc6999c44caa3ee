"""Converter helpers the formats share: toolchain versions, graph compaction, ONNX graph fixes."""
