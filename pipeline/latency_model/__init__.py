"""Latency model: a Neurosurgeon-style per-layer regression that estimates a model's latency L_m.

Neurosurgeon (Kang et al., ASPLOS 2017) predicts a DNN's latency from "the number and size of
input and output feature maps as well as the characteristics of each layer": it times many
single-layer networks, fits one regression per layer type and sums the predictions of a model's
layers. The Python LiteRT interpreter has no per-op profiler, so this package does exactly that:

1. :mod:`.probes` builds small tf_keras models holding ONE layer each (Conv2D, DepthwiseConv2D,
   Dense, Add, Multiply, global average pooling, pooling, activations), drawn seeded from a grid
   covering the zoo's layers, and converts each at every configured precision;
   :mod:`.timings` times them in the LiteRT interpreter with :mod:`.timer` (1 thread, XNNPACK, as
   :mod:`mmnet.pipeline.latency` times whole models) and attributes each time to its one op, read
   by the op parser :mod:`.features`.
2. :mod:`.regression` fits one linear regression per (TFLite op, precision) on the features of
   :meth:`~.features.LayerFeatures.vector` (MACs, input and output elements, weights), by
   non-negative least squares on relative errors, and predicts a .tflite file's latency as the
   sum of its ops' predictions plus a per-invoke overhead.
3. :mod:`.evaluation` compares the predictions with the measured latency of whole models, and
   :mod:`.stage` runs the three steps for the build (:func:`~.stage.build_latency_model`);
   :mod:`.config` holds their settings.

The overhead is measured, not fitted: a single-layer model's time is ``overhead + layer``, and
from single-layer models alone the two cannot be told apart (each layer type would absorb it into
its intercept, and a 100-op model would then count it 100 times). So chains of 1 to 16 tiny ops
are timed, in rounds interleaved with the layers: the slope of time against chain length is the
cost of one such op, the intercept the overhead of an ``invoke()`` itself. Each single-layer time
minus that overhead is attributed to its layer; each regression keeps an intercept for the fixed
cost an op adds, which dominates the zoo's tiny minions (a 100-op minion on 8x8 frames runs in
~20 us).

float16 models run float32 kernels on weights dequantised once at load, so their ops are
predicted from the float32 timings and their constant DEQUANTIZE ops cost nothing.

Measured on a 2-core x86 host (XNNPACK, 1 thread): the default config times 272 single-layer
models in ~13 s, and predicted the 25 models of the digits demo bundle (never used in fitting)
with a median absolute error of 3% (max 11%) against their measured latency.

Artifact on disk (``work_dir``): ``layers/<kind>-<i>-<precision>.tflite`` (the single-layer
models and ``overhead-<n>-<precision>.tflite`` probes) and ``timings.json`` (the
:class:`~.timings.LayerTiming` list and the key it was measured under; reused only for the same
config, interpreter backend and host).
"""
