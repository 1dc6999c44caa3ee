"""Proof of parity: the artifact's outputs in its real runtime against the PyTorch reference, on the test split."""

from __future__ import annotations

import numpy as np

FP32_TOL = 1e-3  # max |Δ output| relative to the reference's largest magnitude (bar: ≤ 1e-4 measured)
FP16_MIN_AGREEMENT = 0.99
RECON_MIN_COSINE = {"fp32": 0.99999, "fp16": 0.999, "int8": 0.98, "dynamic": 0.98}


def compare(outputs: np.ndarray, reference: np.ndarray, y: np.ndarray, *, task: str, precision: str, floor: float) -> dict:
    o, r = outputs.reshape(len(outputs), -1).astype(np.float64), reference.reshape(len(reference), -1).astype(np.float64)
    diff = np.abs(o - r)
    mse = float((diff ** 2).mean())
    peak = float(np.abs(r).max()) or 1.0
    cosine = float((o * r).sum() / (np.linalg.norm(o) * np.linalg.norm(r) + 1e-12))
    result = {
        "samples": int(len(o)), "max_abs_diff": float(diff.max()), "mean_abs_diff": float(diff.mean()),
        "cosine": cosine, "psnr_db": float(10 * np.log10(peak**2 / mse)) if mse > 0 else float("inf"),
    }
    if task == "classification":
        result["top1_agreement"] = float((o.argmax(1) == r.argmax(1)).mean())
        result["accuracy"] = float((o.argmax(1) == y).mean())
        result["reference_accuracy"] = float((r.argmax(1) == y).mean())
        result["accuracy_drop_points"] = (result["reference_accuracy"] - result["accuracy"]) * 100
    result["passed"], result["rule"] = _verdict(result, task, precision, floor, peak)
    return result


def _verdict(res: dict, task: str, precision: str, floor: float, peak: float) -> tuple[bool, str]:
    if task != "classification":
        need = RECON_MIN_COSINE[precision]
        return res["cosine"] >= need, f"cosine ≥ {need}"
    if precision == "fp32":
        tol = FP32_TOL * max(1.0, peak)
        return res["max_abs_diff"] <= tol and res["top1_agreement"] >= 0.999, f"max |Δ| ≤ {tol:.1e} and agreement ≥ 99.9%"
    if precision == "fp16":
        return res["top1_agreement"] >= FP16_MIN_AGREEMENT, f"agreement ≥ {FP16_MIN_AGREEMENT:.0%}"
    return res["top1_agreement"] >= floor, f"agreement ≥ {floor:.1%} (target floor; --min-agreement to change)"
