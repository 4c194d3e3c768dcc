"""SIEVE (dissertation ch. 4): speculative models from per-tensor custom number formats.

``search`` (TF-free) is the §4.4.1 format search over an evaluator; ``keras_graph`` folds batch
norm, evaluates a Keras model with cached activations and builds the deployed model; ``emulation``
is the Keras layer that rounds activations inside the TFLite model; ``stage`` is the build's SIEVE
stage (the master's models as minions) and packs their kernels for the bundle; ``compare`` sets the
SIEVE systems beside the bundle's other speculative models and the paper; ``report`` writes the
tables and plots. ``native`` (TF-free) is the same per-layer logic over formats LiteRT executes
natively, ``native_litert`` its evaluator (ai-edge-quantizer and the LiteRT interpreter) and
``native_stage`` its models in the build.
"""
