"""edgekit: from training on a workstation to a checked model on a small device.

    import edgekit as ek
    run = ek.train("digits-cnn", epochs=10)            # or ek.train(MyNet(), data=(x, y))
    run = ek.adopt(MyNet(), data=(x, y))               # or a model trained elsewhere: nothing is trained
    small = ek.compress(run, prune=0.5, qat=True)
    art = ek.export(small, target="rpi4")
    report = ek.bench(art, device="emu:rpi4")

Everything is imported on first use, so `import edgekit` (and the CLI's --help) stays instant.
"""

from ._version import __version__ as __version__

__all__ = ["train", "adopt", "compress", "export", "bench", "predict", "pipeline", "search", "load_run"]


def __getattr__(name):
    if name in __all__:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'edgekit' has no attribute {name!r}")
