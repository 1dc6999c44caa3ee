"""Model surgery and measurement on torch modules: folding, resizing, profiling, predicting, weight checks."""
