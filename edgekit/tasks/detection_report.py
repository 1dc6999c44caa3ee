"""Detection on the host after the device: COCO mAP from the boxes the device shipped, the report's section
(per-class AP, precision/recall curves, a few test images with predicted and true boxes) and predict --save's
drawing."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np

from ..errors import EdgekitError
from .coco_eval import evaluate

EXAMPLES = 4  # test images drawn in the report
COLOURS = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#9a6324", "#800000", "#000075"]
TRUTH = "#ffffff"


def _eval_file(folder: Path, deploy, dtask):
    """Labels and reference from the artifact's eval file (checked by check_artifact_folder before the run)."""
    try:
        with np.load(Path(folder) / deploy.eval.file, allow_pickle=False) as ev:
            return dtask.load_labels(ev), dtask.load_reference(ev), _raws(ev, EXAMPLES)
    except (OSError, ValueError, KeyError) as e:
        raise ValueError(f"cannot read {deploy.eval.file}: {str(e)[:120]}") from None


def _raws(ev, n: int) -> list:
    if "raw" in ev.files:
        return list(ev["raw"][:n])
    return [ev[k] for k in sorted(k for k in ev.files if k.startswith("raw_"))[:n]]


def shipped_values(shipped: list, samples: int) -> list[dict]:
    """The device's JSON detections back as arrays, checked (they came over a wire): ValueError when malformed."""
    if not isinstance(shipped, list) or len(shipped) != samples:
        given = len(shipped) if isinstance(shipped, list) else 0
        raise ValueError(f"the device shipped detections for {given} images, not {samples}")
    out = []
    for i, v in enumerate(shipped):
        try:
            boxes = np.asarray(v["boxes"], np.float32).reshape(-1, 4)
            scores = np.asarray(v["scores"], np.float32).reshape(-1)
            classes = np.asarray(v["classes"], np.int64).reshape(-1)
        except (TypeError, KeyError, ValueError):
            raise ValueError(f"the device's detections for image {i} are malformed") from None
        if not len(boxes) == len(scores) == len(classes) or not np.isfinite(boxes).all():
            raise ValueError(f"the device's detections for image {i} are malformed")
        out.append({"boxes": boxes, "scores": scores, "classes": classes})
    return out


def finish_result(task, result, folder: Path, deploy):
    """COCO mAP (and the reference's, the drop, collapsed classes) from the device's own boxes; `details` for the
    report; the shipped values dropped (report.json keeps the figures, not every box). ValueError: the result or
    the eval file does not fit (bench makes it a failed row)."""
    if result.values is None:
        return result
    labels, reference, raws = _eval_file(folder, deploy, task.device)
    values = shipped_values(result.values, len(labels))
    quality = {**result.quality, **task.device_score(values, reference, labels)}
    names = list(deploy.labels or [])
    got = evaluate(values, labels, max(len(names), 1))
    display = float((deploy.task_options or {}).get("display_threshold", 0.25))
    examples = []
    for i in range(min(EXAMPLES, len(raws))):
        keep = values[i]["scores"] >= display
        examples.append(
            {
                "index": i,
                "predicted": [
                    [*np.round(b, 1).tolist(), int(c), round(float(s), 3)]
                    for b, c, s in zip(values[i]["boxes"][keep], values[i]["classes"][keep], values[i]["scores"][keep])
                ],
                "truth": [[*np.round(b, 1).tolist(), int(c)] for b, c in zip(labels[i]["boxes"], labels[i]["classes"])],
            }
        )
    details = {"labels": names, "class_ap": got["class_ap"], "class_ap50": got["class_ap50"], "pr": got["pr"], "examples": examples}
    return result.model_copy(update={"quality": quality, "values": None, "details": details})


def _name(names: list, c: int) -> str:
    return names[c] if 0 <= c < len(names) else str(c)


def draw_boxes(image, predicted: list, truth: list):
    """A copy of `image` (Pillow) with true boxes (white) and predicted boxes (a colour per label, with its score)."""
    from PIL import ImageDraw

    img = image.convert("RGB")
    draw = ImageDraw.Draw(img)
    width = max(1, round(min(img.size) / 160))
    for box, _ in truth:
        draw.rectangle([float(v) for v in box], outline=TRUTH, width=width)
    labels = sorted({lab for _, lab, _ in predicted})
    for box, label, score in predicted:
        colour = COLOURS[labels.index(label) % len(COLOURS)]
        x1, y1, x2, y2 = (float(v) for v in box)
        draw.rectangle([x1, y1, x2, y2], outline=colour, width=width)
        draw.text((x1 + 2, max(y1 - 11, 0)), f"{label} {score:.2f}", fill=colour)
    return img


def _png(img) -> str:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def _pr_plot(details: dict) -> str | None:
    pr = details.get("pr") or {}
    curves = pr.get("precision") or []
    if not any(c is not None for c in curves):
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.6))
    for k, curve in enumerate(curves):
        if curve is not None:
            p = np.asarray(curve, np.float64)
            ax.plot(pr["recall"], np.where(p < 0, 0, p), label=_name(details["labels"], k), color=COLOURS[k % len(COLOURS)])
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title("Precision / recall at IoU 0.5 (COCO, 101 points)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=7)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _examples(entry, details: dict) -> list[str]:
    from PIL import Image

    from ..contracts import load_deploy

    try:
        deploy = load_deploy(Path(entry.folder) / "deploy.json")
        with np.load(Path(entry.folder) / deploy.eval.file, allow_pickle=False) as ev:
            raws = _raws(ev, EXAMPLES)
    except (OSError, ValueError, KeyError, EdgekitError):
        return []  # the artifact folder moved since the run: the figures stand without pictures
    names, out = details["labels"], []
    for ex in details.get("examples", []):
        if ex["index"] >= len(raws):
            continue
        raw = np.asarray(raws[ex["index"]])
        img = Image.fromarray(raw.squeeze(-1) if raw.ndim == 3 and raw.shape[2] == 1 else raw)
        predicted = [(p[:4], _name(names, p[4]), p[5]) for p in ex["predicted"]]
        truth = [(t[:4], _name(names, t[4])) for t in ex["truth"]]
        drawn = draw_boxes(img, predicted, truth)
        scale = max(1, 256 // max(drawn.size))
        drawn = drawn.resize((drawn.width * scale, drawn.height * scale), Image.NEAREST) if scale > 1 else drawn
        out.append(_png(drawn))
    return out


def sections(entry) -> list[tuple[str, str, str]]:
    r = entry.result
    details = r.details if r is not None else {}
    if not details.get("class_ap"):
        return []
    names = details["labels"]
    rows = [
        [_name(names, k), "—" if ap is None else f"{ap:.4f}", "—" if ap50 is None else f"{ap50:.4f}"]
        for k, (ap, ap50) in enumerate(zip(details["class_ap"], details["class_ap50"]))
    ]
    title = f"Detection: {Path(entry.folder).name}"
    head = ["class", "AP50-95", "AP50"]
    md = "\n".join(["| " + " | ".join(head) + " |", "|---|---|---|", *("| " + " | ".join(row) + " |" for row in rows)])
    md = f"mAP50-95 {r.quality.get('map50_95') or 0:.4f}, mAP50 {r.quality.get('map50') or 0:.4f} from the device's boxes on the raw test images.\n\n{md}"
    table = "<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>"
    table += "".join("<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in row) + "</tr>" for row in rows) + "</table>"
    parts = [f"<p>{html.escape(md.splitlines()[0])}</p>", table]
    plot = _pr_plot(details)
    if plot:
        parts.append(f"<img alt='precision-recall {html.escape(title)}' src='data:image/png;base64,{plot}'>")
    images = _examples(entry, details)
    if images:
        parts.append("<p>Test images: true boxes white, predicted boxes coloured with their scores.</p>")
        parts += [f"<img alt='test image {i}' src='data:image/png;base64,{b}'>" for i, b in enumerate(images)]
    return [(title, md, "\n".join(parts))]
