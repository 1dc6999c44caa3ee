"""ONNX files as data: read and checked (read.py), made a PyTorch module where onnx2torch converts the graph
(convert.py), run in onnxruntime where it does not (runtime.py), rebuilt from a run folder's copy (build.py).

An ONNX file is never executed as code: it is parsed, its external data confined to its folder, its node names
replaced before onnx2torch turns them into the Python source of a torch.fx module.
"""
