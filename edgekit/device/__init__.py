"""The device half of edgekit: one package, shipped to a device as code/edgekit_device/ and run there as
`python -m edgekit_device DATA` (the bench and predict runner), imported on the host as edgekit.device (export's
parity check, the data readers and preprocessing). Python 3.8, numpy only (+ the artifact's runtime, + Pillow for
images): its modules import nothing from edgekit nor torch, and each other only by relative imports.

    runner.py (+ envinfo, measure, record)   the bench / predict loop;  __main__.py its entry
    runtimes/<name>.py                        one adapter per runtime; RUNTIMES = {name: (module, packages)}
    tasks/<name>.py                           post-process, reduce, describe, score per task
    preprocess/                               raw sensor data -> model input (schema, image, audio, wav, ...)
    rawfile.py integrity.py marker.py         raw files, sha256 checks, instruction-count markers
"""
