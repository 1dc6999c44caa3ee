"""Training-time augmentation for box labels, on the normalised batch the training loop holds (after the letterbox).

Without it a detector trained on a thousand scenes stalls: detector-shufflenet-v2 on 1,200 made scenes reached val
mAP50 0.34 after 40 epochs (benchmarks/results/detect.md). The parts follow Ultralytics' YOLOv8 training recipe,
reduced to what works on a batch tensor without the raw images:
- mosaic (YOLOv4, Bochkovskiy et al. 2020): four images of the batch at half size in a 2x2 tile — objects at half
  scale and four scenes' worth of them per image; off for the last epochs (Ultralytics' close_mosaic), so the model
  ends on scenes as the camera gives them;
- random zoom-in crop (SSD, Liu et al. 2016): a square window of 50-100 % of the side, resized back to the input;
- horizontal flip. No vertical flip: most users' objects have an up.
A box cut by a crop is kept when at least 40 % of its area stays inside and it is at least 2 input pixels wide and
high; boxes are normalised x1, y1, x2, y2 in 0..1 of the model input throughout.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

MOSAIC, ZOOM, FLIP = 0.5, 0.5, 0.5  # the probability of each part per image
ZOOM_MIN = 0.5  # the smallest crop side, as a share of the input side
CLOSE_MOSAIC = 0.25  # the last share of the epochs trains without mosaic
KEEP_AREA, MIN_SIDE_PX = 0.4, 2.0


def _uniform(low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand(()))


def _place(t: dict, scale: float, ox: float, oy: float, hw) -> dict:
    """Boxes scaled and moved (x' = x * scale + ox), clipped to the input; cut-off and tiny boxes dropped."""
    b = t["boxes"].reshape(-1, 4) * scale + torch.tensor([ox, oy, ox, oy], device=t["boxes"].device)
    clipped = b.clamp(0.0, 1.0)
    area = lambda x: (x[:, 2] - x[:, 0]).clamp(min=0) * (x[:, 3] - x[:, 1]).clamp(min=0)  # noqa: E731
    h, w = hw
    keep = (
        (area(clipped) >= KEEP_AREA * area(b))
        & ((clipped[:, 2] - clipped[:, 0]) * w >= MIN_SIDE_PX)
        & ((clipped[:, 3] - clipped[:, 1]) * h >= MIN_SIDE_PX)
    )
    return {"boxes": clipped[keep], "classes": t["classes"].reshape(-1)[keep]}


def _mosaic(xb: torch.Tensor, yb: list[dict], i: int) -> tuple[torch.Tensor, dict]:
    n, _, h, w = xb.shape
    picks = [i, *torch.randint(0, n, (3,)).tolist()]
    half = F.interpolate(xb[picks], size=(h // 2, w // 2), mode="bilinear", align_corners=False, antialias=True)
    image = torch.cat((torch.cat((half[0], half[1]), 2), torch.cat((half[2], half[3]), 2)), 1)
    parts = [_place(yb[p], 0.5, 0.5 * (k % 2), 0.5 * (k // 2), (h, w)) for k, p in enumerate(picks)]
    return image, {"boxes": torch.cat([p["boxes"] for p in parts]), "classes": torch.cat([p["classes"] for p in parts])}


def _zoom(image: torch.Tensor, t: dict) -> tuple[torch.Tensor, dict]:
    _, h, w = image.shape
    s = _uniform(ZOOM_MIN, 1.0)
    x0, y0 = _uniform(0.0, 1.0 - s), _uniform(0.0, 1.0 - s)
    top, left, ch, cw = round(y0 * h), round(x0 * w), max(1, round(s * h)), max(1, round(s * w))
    crop = image[None, :, top : top + ch, left : left + cw]
    image = F.interpolate(crop, size=(h, w), mode="bilinear", align_corners=False)[0]
    return image, _place(t, 1.0 / s, -left / w / s, -top / h / s, (h, w))


def _flip(image: torch.Tensor, t: dict) -> tuple[torch.Tensor, dict]:
    b = t["boxes"].reshape(-1, 4)
    return image.flip(-1), {"boxes": torch.stack((1 - b[:, 2], b[:, 1], 1 - b[:, 0], b[:, 3]), 1), "classes": t["classes"]}


def augment(xb: torch.Tensor, yb: list[dict], progress: float) -> tuple[torch.Tensor, list[dict]]:
    """A new batch: each image mosaicked, zoomed and flipped by chance (torch's generator: seeded per epoch by the
    loop, so a resumed run replays it). `progress`: the share of training done (mosaic closes near the end)."""
    if xb.ndim != 4 or len(xb) == 0:
        return xb, yb
    images, targets = [], []
    for i in range(len(xb)):
        image, t = xb[i], yb[i]
        if progress < 1.0 - CLOSE_MOSAIC and len(xb) > 1 and float(torch.rand(())) < MOSAIC:
            image, t = _mosaic(xb, yb, i)
        if float(torch.rand(())) < ZOOM:
            image, t = _zoom(image, t)
        if float(torch.rand(())) < FLIP:
            image, t = _flip(image, t)
        images.append(image)
        targets.append(t)
    return torch.stack(images), targets
