"""Datasets of the build pipeline, one job per module.

Every source is loaded into one canonical in-memory form, whatever the data came from: frames are
uint8 arrays (N, H, W, C) in pixel units 0..255 (what a phone camera delivers), labels are int64
(N,) in 0..K-1 and class names are a tuple of K strings. Training, calibration, evaluation and the
bundle all see that form.

- :mod:`~mmnet.pipeline.datasets.config`: ``DatasetConfig``, where the data comes from and how it
  is split (validated without the data, Pillow or TensorFlow);
- :mod:`~mmnet.pipeline.datasets.dataset`: the canonical form (``Dataset``, ``Splits``) and its
  ``fingerprint``;
- :mod:`~mmnet.pipeline.datasets.frames`: decoded images conformed to canonical frames (Pillow);
- :mod:`~mmnet.pipeline.datasets.loaders`: the sources and ``load_dataset``;
- :mod:`~mmnet.pipeline.datasets.split`: the deterministic stratified train/val/test split;
- :mod:`~mmnet.pipeline.datasets.store`: the split artifact on disk (``save_splits``/``load_splits``).
"""
