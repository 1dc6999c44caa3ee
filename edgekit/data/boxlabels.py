"""Box labels: a variable number of boxes per image, as one container that splits like a label array.

Readers (coco.py, yolo.py) make it with the boxes in RAW image pixels; the detection task places it in the model
input's frame once the preprocessing is known (`placed`): each image's letterbox geometry and its boxes normalised
to 0..1 of the model input, what training targets and the host's score need. Generic code only calls len(),
take() (numpy's name, so label arrays and this split alike) and renumber().
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class BoxLabels:
    boxes: list  # per image: float32 (M, 4) x1, y1, x2, y2 in raw pixels
    classes: list  # per image: int64 (M,)
    sizes: np.ndarray  # (N, 2) raw height, width
    geometry: list | None = None  # per image: (scale_x, scale_y, pad_x, pad_y) of its letterbox, once placed
    frames: list | None = None  # per image: float32 (M, 4) boxes normalised to 0..1 of the model input, once placed
    input_hw: tuple[int, int] | None = None  # the model input's H, W, once placed

    def __len__(self) -> int:
        return len(self.boxes)

    def take(self, index) -> BoxLabels:
        index = [int(i) for i in np.asarray(index).reshape(-1)]

        def pick(items):
            return None if items is None else [items[i] for i in index]

        return replace(
            self,
            boxes=pick(self.boxes),
            classes=pick(self.classes),
            sizes=self.sizes[index] if len(index) else np.zeros((0, 2), np.int64),
            geometry=pick(self.geometry),
            frames=pick(self.frames),
        )

    def renumber(self, index: np.ndarray) -> BoxLabels:
        """Class ids mapped through `index` (old id -> new id)."""
        return replace(self, classes=[np.asarray(index)[c].astype(np.int64) for c in self.classes])

    def class_ids(self) -> np.ndarray:
        return np.concatenate(self.classes).astype(np.int64) if self.classes else np.zeros((0,), np.int64)

    def item(self, i: int) -> dict:
        return {"boxes": self.boxes[i], "classes": self.classes[i]}

    def items(self) -> list[dict]:
        return [self.item(i) for i in range(len(self))]
