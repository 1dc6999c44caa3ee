"""The stages of the flow, one sub-package or module per verb: train, compress, export, bench, pipeline."""
