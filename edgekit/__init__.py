"""edgekit: from training on a workstation to a checked model on a small device.

    import edgekit as ek
    run = ek.train("digits-cnn", epochs=10)            # or ek.train(MyNet(), data=(x, y))
    small = ek.compress(run, prune=0.5, qat=True)
    art = ek.export(small, target="rpi4")
    report = ek.bench(art, device="emu:rpi4")

Everything is imported on first use, so `import edgekit` (and the CLI's --help) stays instant.
"""

__version__ = "0.2.0"
__all__ = ["train", "compress", "export", "bench", "predict", "pipeline", "load_run"]


def __getattr__(name):
    if name in __all__:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'edgekit' has no attribute {name!r}")
