"""`edgekit train`: fit a model on a data set, on CUDA when there is one, on several GPUs under torchrun."""

from .api import train_run
from .loop import TrainConfig, fit

__all__ = ["train_run", "fit", "TrainConfig"]
