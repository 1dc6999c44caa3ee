"""Does fine-tuning from pretrained weights pay (issue 22)? The bar: 2 epochs from a backbone pretrained on half the
classes beat 2 epochs from scratch by >= 5 pt.

scikit-learn's digits upscaled to 32x32 (bilinear, made here). A network is pretrained on digits 0-4 alone (5
classes); then the SAME architecture, optimiser, learning-rate schedule, batch size, epochs and seed train on a
target task once from its random initialisation, once from the pretrained weights (`ek.train(..., weights=FILE)`),
and once with the backbone frozen (`freeze=True`: a linear probe). Two targets, both with a classifier edgekit
re-initialises:

- digits 5-9, classes the backbone never saw, from a backbone file (the pretrained weights without their classifier,
  as backbones are often shipped): the classifier has no weights in the file;
- all ten digits, from the whole pretrained file: its classifier has 5 outputs, the target 10.

The seed fixes the split, the fresh weights and the shuffles, so the arms see the same samples in the same order.

    python benchmarks/finetune.py [--quick]     # --quick: resnet8 alone (about 4 minutes on 2 cores)
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _common import mean_std, write_results
from safetensors.torch import load_file, save_file

import edgekit as ek
from edgekit.nn.fit_weights import find_classifier
from edgekit.recipes import find_recipe

SEEDS = (0, 1, 2)
SIZE = 32  # digits are 8x8: upscaled so that a real backbone (ResNet-8, MLPerf Tiny) has features to learn
ARCHS = [("resnet8", {}), ("mobilenet-v2", {"width": 0.5})]
PRETRAIN_EPOCHS = 10
EPOCHS = 2
PROBE_LR_FACTOR = 10  # a linear probe moves one fresh layer: at the recipe's rate it barely leaves chance in 2 epochs


def digits(size: int, classes) -> dict:
    """The digits of `classes` as (N, 1, size, size) floats in 0..1, numbered 0.. in that order, with their names."""
    from PIL import Image
    from sklearn.datasets import load_digits

    d = load_digits()
    keep = np.isin(d.target, classes)
    big = np.stack(
        [np.asarray(Image.fromarray(img.astype(np.float32) / 16).resize((size, size), Image.BILINEAR)) for img in d.images[keep]]
    )
    number = {c: i for i, c in enumerate(classes)}
    return {
        "x": big[:, None].astype(np.float32),
        "y": np.array([number[c] for c in d.target[keep]]),
        "labels": np.array([str(c) for c in classes]),
    }


def backbone_only(model, weights: Path, shape, out: Path) -> Path:
    """The pretrained weights without the classifier: what a shipped backbone file holds."""
    head = find_classifier(model, shape, 5)
    state = {k: v for k, v in load_file(str(weights)).items() if not k.startswith(head + ".")}
    save_file(state, str(out))
    return out


def arms(arch: str, args: dict, data: dict, weights: Path, tmp: Path, tag: str) -> tuple[dict, str | None]:
    """Test accuracy per seed of the three arms, and the classifier edgekit re-initialised."""
    shape = (1, SIZE, SIZE)
    found: dict[str, list[float]] = {"scratch": [], "fine-tuned": [], "frozen backbone": []}
    reinitialised = None
    for seed in SEEDS:
        common = dict(input_shape=shape, epochs=EPOCHS, model_args=args, seed=seed, progress=False)
        found["scratch"].append(ek.train(arch, data, out=tmp / f"{tag}-s{seed}", **common).metrics.test["accuracy"])
        tuned = ek.train(arch, data, out=tmp / f"{tag}-f{seed}", weights=str(weights), **common)
        found["fine-tuned"].append(tuned.metrics.test["accuracy"])
        reinitialised = tuned.manifest.weights.reinitialised
        probe = dict(weights=str(weights), freeze=True, lr=PROBE_LR_FACTOR * find_recipe(arch).train_settings["lr"])
        found["frozen backbone"].append(ek.train(arch, data, out=tmp / f"{tag}-z{seed}", **probe, **common).metrics.test["accuracy"])
    return found, reinitialised


def main(quick: bool = False) -> None:
    archs = ARCHS[:1] if quick else ARCHS
    # One thread: batches this small only wait for each other on two cores another process shares (an epoch of
    # resnet8 took 61 s on two threads beside another test run, 8 s on one).
    torch.set_num_threads(1)
    shape = (1, SIZE, SIZE)
    pretrain_data = digits(SIZE, list(range(5)))
    targets = [
        ("5-9 (unseen), backbone file", digits(SIZE, list(range(5, 10))), True),
        ("0-9, whole file (5 → 10 outputs)", digits(SIZE, list(range(10))), False),
    ]
    rows, results = [], []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for arch, args in archs:
            started = time.perf_counter()
            pre = ek.train(
                arch, pretrain_data, input_shape=shape, epochs=PRETRAIN_EPOCHS, model_args=args, out=tmp / f"{arch}-pre", progress=False
            )
            pretrain_s = time.perf_counter() - started
            whole = pre.path / "model.safetensors"
            backbone = backbone_only(pre.model, whole, shape, tmp / f"{arch}-backbone.safetensors")
            for t, (target, data, headless) in enumerate(targets):
                found, reinitialised = arms(arch, args, data, backbone if headless else whole, tmp, f"{arch}-{t}")
                gain = (statistics.mean(found["fine-tuned"]) - statistics.mean(found["scratch"])) * 100
                results.append(
                    {
                        "arch": arch,
                        "model_args": args,
                        "target": target,
                        "input_shape": list(shape),
                        "pretrain_accuracy_digits_0_4": pre.metrics.test["accuracy"],
                        "pretrain_epochs": PRETRAIN_EPOCHS,
                        "pretrain_seconds": round(pretrain_s, 1),
                        "epochs": EPOCHS,
                        "seeds": list(SEEDS),
                        "threads": torch.get_num_threads(),
                        "accuracy": found,
                        "reinitialised": reinitialised,
                        "gain_points": gain,
                        "passed": gain >= 5,
                    }
                )
                rows.append(
                    [
                        f"{arch} {args or ''}".strip(),
                        target,
                        f"{pre.metrics.test['accuracy']:.4f}",
                        mean_std(found["scratch"]),
                        mean_std(found["fine-tuned"]),
                        mean_std(found["frozen backbone"]),
                        reinitialised or "no",
                        f"{gain:+.1f} pt",
                        "PASS" if gain >= 5 else "FAIL",
                    ]
                )
    write_results(
        "finetune",
        {"size": SIZE, "epochs": EPOCHS, "results": results},
        [
            "architecture",
            "target",
            f"pretrained on 0-4 ({PRETRAIN_EPOCHS} ep.)",
            f"from scratch ({EPOCHS} ep.)",
            f"fine-tuned ({EPOCHS} ep.)",
            f"frozen backbone ({EPOCHS} ep., {PROBE_LR_FACTOR}x lr)",
            "classifier re-initialised",
            "gain",
            "bar ≥ 5 pt",
        ],
        rows,
        [
            f"data: scikit-learn digits (1,797 images) upscaled bilinearly to {SIZE}x{SIZE}; digits 0-4 pretrain the network "
            f"({PRETRAIN_EPOCHS} epochs, 5 classes); each target is split 70/15/15 by the seed; test accuracy shown",
            "targets: digits 5-9 (classes the backbone never saw) from the pretrained weights without their classifier (a "
            "backbone file), and all ten digits from the whole file (its 5-output classifier re-initialised for 10 classes)",
            f"every arm: the architecture's recipe settings (AdamW, its learning rate with cosine decay over {EPOCHS} epochs, its batch "
            "size), the same seed (split, fresh weights, shuffles); fine-tuned: `ek.train(..., weights=FILE)`; frozen backbone: "
            f"`freeze=True`, the classifier alone at {PROBE_LR_FACTOR}x the recipe's learning rate (a fresh layer barely moves in 2 "
            "epochs at 1x)",
            "torch on one thread (the machine's 2 cores were shared with other work)",
            f"accuracy as mean ± sd over seeds {', '.join(map(str, SEEDS))}",
        ],
    )


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
