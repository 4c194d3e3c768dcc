"""Pruning (dissertation ch. 7): SNIP, local random, double-shot and channel pruning, retrained and exportable.

:mod:`~mmnet.pipeline.pruning.scores` holds the formulas (SNIP connection sensitivity, the five
importance metrics, the masks) as numpy functions, with the dissertation lines they come from;
:mod:`~mmnet.pipeline.pruning.config` the validated settings; :mod:`~mmnet.pipeline.pruning.stage`
runs one method on one network (importing TensorFlow), using
:mod:`~mmnet.pipeline.pruning.masked` (SNIP gradients, fixed-mask retraining with
tensorflow-model-optimization) and :mod:`~mmnet.pipeline.pruning.channels` (structured pruning).
This package imports none of them, so validating a config stays TensorFlow-free.
"""
