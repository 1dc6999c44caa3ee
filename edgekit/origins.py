"""Where a run's model came from, as model.json and manifest.json record it: a user's code copied into the run
folder, an imported ONNX graph, the weights file of an import or a fine-tuning. Each is a record of a file, checked on
read, never a reason to open that file again (edgekit/contracts.py holds the records these are part of)."""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, field_validator

from .schema import Strict, check_plain_name


class UserCode(Strict):
    """A user's module copied into the run folder at train time; imported only under --trust-code."""

    file: str  # under the run folder's code/
    sha256: str
    origin: str  # where it was copied from (messages only; never opened because a file names it)
    entry: str  # class or factory name in that file
    module: Optional[str] = None  # the dotted name it was given as, if any
    package: Optional[str] = None  # installed distribution (name==version) when the code came from one

    @field_validator("file")
    @classmethod
    def _plain(cls, v):
        return check_plain_name(v)


class OnnxGraph(Strict):
    """An imported ONNX file: its normalised graph is the run folder's `file`, parsed (never run as code) to rebuild
    the model — by onnx2torch (runs_in "pytorch"), or as an onnxruntime session (runs_in "onnxruntime", ONNX only)."""

    file: str  # under the run folder
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")  # of `file`: a swapped graph is refused, never rebuilt
    origin: str  # the imported file's name (messages only; never opened again)
    runs_in: Literal["pytorch", "onnxruntime"]
    converter: Optional[str] = None  # "onnx2torch 1.5.15" when it runs in PyTorch
    not_converted: Optional[str] = None  # why it runs in onnxruntime only: the operator onnx2torch does not convert
    max_difference: Optional[float] = None  # converted module vs onnxruntime, on random inputs, one sample and a batch

    @field_validator("file")
    @classmethod
    def _plain(cls, v):
        return check_plain_name(v)


class WeightsSource(Strict):  # the file a run's weights came from (import, train --weights): recorded, never reopened
    file: str  # its absolute path when read (messages only)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    entry: Optional[str] = None  # the training checkpoint's entry that held them ("model_state_dict", "ema", ...)
    reinitialised: Optional[str] = None  # the classifier layer trained anew (its class count differed)
