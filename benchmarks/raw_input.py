"""Issue 14: from the sensor to the answer. For digits, an image folder (photos drawn here) and audio (spoken
keywords made with espeak-ng; machine sounds), the device runner starts from RAW samples and applies the
preprocessing deploy.json records; its accuracy must equal export parity's on the same samples. Also: the audio
front end against librosa, keyword spotting on unseen voices (fp32 ≥ 90%, int8 within 1 point, the same under
emu:rpi4), anomaly detection AUC ≥ 0.85 fp32 and int8, and front-end time against model time.

    python benchmarks/raw_input.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from _common import write_results

import edgekit as ek
from edgekit.device import preprocess, runtimes
from edgekit.synth.keywords import make_keywords
from edgekit.synth.machines import make_machine_sounds
from edgekit.synth.shapes import make_shapes

KEYWORDS = "yes,no,up,down,left,right,on,off,stop,go"
QUICK = {"min_queries": 300, "min_seconds": 1.0, "warmup": 20}


def all_digits_from_raw(art) -> float:
    """The issue's own check: every scikit-learn digit as raw 0..16 pixels, preprocessed only as deploy.json says."""
    from sklearn.datasets import load_digits

    d = load_digits()
    deploy = art.deploy.model_dump(mode="json")
    adapter = runtimes.open_artifact(art.path, deploy, 1)
    name, out = adapter.inputs[0]["name"], adapter.outputs[0]["name"]
    hits = [
        int(adapter.infer({name: preprocess.run(deploy["preprocess"], img.astype(np.uint8))})[out].argmax()) == y
        for img, y in zip(d.images, d.target)
    ]
    return float(np.mean(hits))


def frontend_vs_librosa(clip_dir: Path) -> dict:
    """The KWS front end against librosa with the same parameters (HTK mel, no filter norm, 30/20 ms frames). librosa
    centres its 480-sample window in the 512-sample frame: the signal is padded by 16 on both sides so both frames
    hold the same samples (|FFT|² does not change with the circular shift)."""
    import librosa

    clips = [f for f in sorted(clip_dir.glob("*/*.wav")) if not f.parent.name.startswith("_")][:20]
    worst = {"log-mel (KWS, absolute)": 0.0, "MFCC (KWS, relative)": 0.0}
    kws = preprocess.kws_pipeline()
    ops = [s["op"] for s in kws["steps"]]
    upto_log = {**kws, "steps": kws["steps"][: ops.index("log") + 1]}
    for f in clips:
        pcm, rate = preprocess.decode_wav(f.read_bytes())
        y = np.zeros(16000, np.float32)
        y[: min(16000, len(pcm))] = pcm[:16000].astype(np.float32) / 32768.0
        mel = librosa.feature.melspectrogram(
            y=np.pad(y, 16),
            sr=rate,
            n_fft=512,
            hop_length=320,
            win_length=480,
            window="hann",
            center=False,
            power=2.0,
            n_mels=40,
            fmin=20.0,
            fmax=4000.0,
            htk=True,
            norm=None,
        )
        logmel = np.log(mel + 1e-6)
        mfcc = librosa.feature.mfcc(S=logmel.astype(np.float64), n_mfcc=10, dct_type=2, norm="ortho").T
        ours_log = preprocess.run(upto_log, pcm)[0]
        ours = preprocess.run(kws, pcm)[0].reshape(-1, 10)
        worst["log-mel (KWS, absolute)"] = max(worst["log-mel (KWS, absolute)"], float(np.abs(ours_log - logmel.T).max()))
        worst["MFCC (KWS, relative)"] = max(worst["MFCC (KWS, relative)"], float(np.abs(ours - mfcc).max() / np.abs(mfcc).max()))
    return worst


def bench_pair(arts, device="local", report=None):
    rep = ek.bench(arts, device=device, report=report, **QUICK)
    return [e.result for e in rep.entries]


def main() -> None:
    rows, results = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        # digits and an image folder of photos of varying sizes
        cases = [
            ("digits", "digits-cnn", "digits", {}),
            ("image folder (shapes)", "mobilenet-v3-small", f"imagefolder:{tmp / 'shapes'}", {}),
        ]
        make_shapes(tmp / "shapes", per_class=80)
        for label, model, data, kw in cases:
            run = ek.train(model, data, epochs=20, out=tmp / label.split()[0], progress=False, **kw)
            arts = [
                ek.export(run, target="rpi4", out=tmp / f"{label.split()[0]}-int8", progress=False),
                ek.export(run, target="x86-64", format="onnx", precision="fp32", out=tmp / f"{label.split()[0]}-fp32", progress=False),
            ]
            for art, r in zip(arts, bench_pair(arts, report=tmp / "r.html")):
                same = r.quality["accuracy"] == art.parity.metrics["accuracy"]
                results[f"{label} {art.deploy.artifact.format} {art.deploy.artifact.precision}"] = {
                    "runner_from_raw": r.quality["accuracy"],
                    "export_parity": art.parity.metrics["accuracy"],
                    "equal": same,
                    "frontend_p50_ms": r.frontend_ms.p50,
                    "model_p50_ms": r.latency_ms.p50,
                }
                rows.append(
                    [
                        label,
                        f"{art.deploy.artifact.format} {art.deploy.artifact.precision}",
                        f"{r.quality['accuracy']:.4f}",
                        f"{art.parity.metrics['accuracy']:.4f}",
                        "yes" if same else "NO",
                        f"{r.frontend_ms.p50:.3f}",
                        f"{r.latency_ms.p50:.3f}",
                    ]
                )
            if label == "digits":
                results["all 1,797 digits from raw 0..16 pixels, rpi4 int8"] = all_digits_from_raw(arts[0])
        # keyword spotting on voices never heard in training
        make_keywords(tmp / "kw", speakers=40, repeats=2)
        kws = ek.train(
            "ds-cnn", f"audiofolder:{tmp / 'kw'}?keywords={KEYWORDS}", epochs=60, lr=3e-3, batch_size=32, out=tmp / "kws", progress=False
        )
        qat = ek.compress(kws, qat=True, epochs=5, out=tmp / "kws-qat", progress=False)
        karts = [
            ek.export(kws, target="rpi4", precision="fp32", out=tmp / "kws-fp32", progress=False),
            ek.export(qat, target="rpi4", out=tmp / "kws-int8", progress=False),
        ]
        local, emu = bench_pair(karts), bench_pair(karts, device="emu:rpi4")
        for art, r, e in zip(karts, local, emu):
            p = art.deploy.artifact.precision
            results[f"keywords {p}"] = {
                "runner_from_raw": r.quality["accuracy"],
                "export_parity": art.parity.metrics["accuracy"],
                "emu_rpi4": e.quality["accuracy"],
                "frontend_p50_ms": r.frontend_ms.p50,
                "model_p50_ms": r.latency_ms.p50,
            }
            rows.append(
                [
                    "spoken keywords (unseen voices)",
                    f"tflite {p}",
                    f"{r.quality['accuracy']:.4f}",
                    f"{art.parity.metrics['accuracy']:.4f}",
                    "yes" if r.quality["accuracy"] == art.parity.metrics["accuracy"] else "NO",
                    f"{r.frontend_ms.p50:.3f}",
                    f"{r.latency_ms.p50:.3f}",
                ]
            )
        kw_fp32, kw_int8 = results["keywords fp32"]["runner_from_raw"], results["keywords int8"]["runner_from_raw"]
        # anomaly detection from machine sounds
        make_machine_sounds(tmp / "machines")
        ad = ek.train("fc-autoencoder", f"machines:{tmp / 'machines'}", epochs=40, out=tmp / "ad", progress=False)
        ptq = ek.compress(ad, ptq=True, out=tmp / "ad-ptq", progress=False)
        aarts = [
            ek.export(ad, target="rpi4", precision="fp32", out=tmp / "ad-fp32", progress=False),
            ek.export(ptq, target="rpi4", out=tmp / "ad-int8", progress=False),
        ]
        for art, r in zip(aarts, bench_pair(aarts)):
            p = art.deploy.artifact.precision
            n = r.invokes_per_sample or 1
            results[f"anomaly {p}"] = {
                "auc": r.quality["auc"],
                "pauc": r.quality["pauc"],
                "export_parity_auc": art.parity.metrics["auc"],
                "frontend_p50_ms": r.frontend_ms.p50,
                "model_p50_ms_per_clip": r.latency_ms.p50 * n,
            }
            rows.append(
                [
                    "machine sounds (AUC)",
                    f"tflite {p}",
                    f"{r.quality['auc']:.4f}",
                    f"{art.parity.metrics['auc']:.4f}",
                    "yes" if r.quality["auc"] == art.parity.metrics["auc"] else "NO",
                    f"{r.frontend_ms.p50:.3f}",
                    f"{r.latency_ms.p50 * n:.3f}",
                ]
            )
        librosa_diff = frontend_vs_librosa(tmp / "kw")
    bars = {
        "raw-input accuracy equals export parity's": all(v.get("equal", True) for v in results.values() if isinstance(v, dict)),
        "KWS fp32 ≥ 0.90 on unseen voices": kw_fp32 >= 0.90,
        "KWS int8 within 1 point": kw_fp32 - kw_int8 <= 0.01,
        "KWS under emu:rpi4 = local": all(
            results[f"keywords {p}"]["emu_rpi4"] == results[f"keywords {p}"]["runner_from_raw"] for p in ("fp32", "int8")
        ),
        "AD AUC ≥ 0.85 fp32 and int8": results["anomaly fp32"]["auc"] >= 0.85 and results["anomaly int8"]["auc"] >= 0.85,
        "front end vs librosa: log-mel max |Δ| ≤ 1e-4, MFCC relative ≤ 1e-4": all(v <= 1e-4 for v in librosa_diff.values()),
    }
    write_results(
        "raw_input",
        {"results": results, "frontend_vs_librosa": librosa_diff, "bars": bars},
        ["task", "artifact", "runner from raw (accuracy / AUC)", "export parity", "equal", "front end p50 ms", "model p50 ms per sample"],
        rows,
        [f"{k}: {'PASS' if v else 'FAIL'}" for k, v in bars.items()]
        + [
            "front end vs librosa (relative max |Δ|): " + ", ".join(f"{k} {v:.1e}" for k, v in librosa_diff.items()),
            f"all 1,797 digits from raw pixels through deploy.json's preprocessing (rpi4 int8): "
            f"{results['all 1,797 digits from raw 0..16 pixels, rpi4 int8']:.4f} (the issue measured 0.693 when /16 was unrecorded)",
            "front end = the recorded preprocessing from raw sample to model input, per sample, in numpy on this CPU",
        ],
    )


if __name__ == "__main__":
    main()
