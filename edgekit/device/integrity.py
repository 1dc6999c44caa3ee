"""File integrity on the device and the host: one sha256 helper for artifacts, run folders and code copies."""

import hashlib
import os


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _differs(path, expected):
    # lexists + islink: a symlink is never hashed (it would hash whatever it points at)
    return os.path.islink(path) or not os.path.isfile(path) or sha256(path) != expected


def bad_files(folder, artifact, eval_info=None):
    """Names of the artifact's files (and of its eval file, when given) that are missing or differ from
    deploy.json's sha256 (empty: all good). The eval file's hash matters as much: the accuracy rests on it."""
    bad = [name for name in artifact["files"] if _differs(os.path.join(folder, name), artifact["sha256"].get(name))]
    if eval_info is not None and _differs(os.path.join(folder, eval_info["file"]), eval_info.get("sha256")):
        bad.append(eval_info["file"])
    return bad
