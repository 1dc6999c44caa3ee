"""The peer for benchmarks/detect.py: Ultralytics YOLO11n on the same made scenes, the same splits and input size.

Run with a Python that has ultralytics (never an edgekit dependency; a separate venv):

    python3 -m venv /tmp/peer && /tmp/peer/bin/pip install torch==2.14.1 torchvision==0.29.1 ultralytics==8.4.190
    /tmp/peer/bin/python benchmarks/peer_ultralytics.py --yolo DIR --out DIR --epochs 100 --imgsz 128 --result peer.json

DIR (--yolo) is what detect.py writes from edgekit's own split of the data: images/{train,val,test}, labels/...,
data.yaml. YOLO11n is built from its yaml (no weights download), trained on train, checked on val; its TFLite fp32
and int8 exports (Ultralytics' exporter, int8 calibrated as Ultralytics does, on the data's images) are scored by
Ultralytics' own `val` on the test split. Its mAP is Ultralytics' (101-point interpolation, its own matcher), not
faster-coco-eval's: the comparison that is fair is each tool's int8 drop from its own fp32.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--yolo", required=True, help="the YOLO-layout data detect.py wrote (data.yaml inside)")
    p.add_argument("--out", required=True)
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--imgsz", type=int, default=128)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--result", required=True)
    a = p.parse_args()
    os.environ.setdefault("YOLO_OFFLINE", "1")  # no hub, no font or weights downloads
    from ultralytics import YOLO, __version__

    data = str(Path(a.yolo) / "data.yaml")
    out = Path(a.out)
    weights = out / "train" / "weights" / "best.pt"
    result = {"ultralytics": __version__, "model": "yolo11n.yaml", "epochs": a.epochs, "imgsz": a.imgsz}
    if not weights.exists():
        t0 = time.perf_counter()
        YOLO("yolo11n.yaml").train(
            data=data,
            epochs=a.epochs,
            imgsz=a.imgsz,
            batch=a.batch,
            device="cpu",
            workers=0,
            plots=False,
            amp=False,
            project=str(out),
            name="train",
            exist_ok=True,
            pretrained=False,
            verbose=False,
        )
        (out / "train_seconds.txt").write_text(f"{time.perf_counter() - t0:.1f}")
    result["train_seconds"] = float((out / "train_seconds.txt").read_text())
    pt = YOLO(str(weights)).val(data=data, split="test", imgsz=a.imgsz, batch=1, device="cpu", plots=False, verbose=False)
    result["pytorch"] = {"map50": float(pt.box.map50), "map50_95": float(pt.box.map)}
    for precision in ("fp32", "int8"):
        t0 = time.perf_counter()
        kwargs = {"int8": True, "data": data} if precision == "int8" else {}
        path = YOLO(str(weights)).export(format="tflite", imgsz=a.imgsz, **kwargs)
        result[f"export_seconds_{precision}"] = time.perf_counter() - t0
        result[f"{precision}_file"] = str(Path(path).resolve())
        m = YOLO(str(path), task="detect").val(data=data, split="test", imgsz=a.imgsz, batch=1, device="cpu", plots=False, verbose=False)
        result[precision] = {"map50": float(m.box.map50), "map50_95": float(m.box.map)}
    Path(a.result).write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
