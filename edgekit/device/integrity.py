"""File integrity on the device and the host: one sha256 helper for artifacts, run folders and code copies."""

import hashlib
import os


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def bad_files(folder, artifact):
    """Names of the artifact's files that are missing or differ from deploy.json's sha256 (empty: all good)."""
    bad = []
    for name in artifact["files"]:
        path = os.path.join(folder, name)
        if not os.path.isfile(path) or sha256(path) != artifact["sha256"].get(name):
            bad.append(name)
    return bad
