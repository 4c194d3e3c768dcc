"""Dynamic Duo (dissertation chapter 6): a little model answers every request, a big one recovers the
answers its confidence probe doubts. TF-free.

- :mod:`~mmnet.pipeline.duo.pool` evaluates a model pool: every model's probabilities on val/test,
  accuracy, MACs and measured latency at batch 1 and batched, on this host.
- :mod:`~mmnet.pipeline.duo.pairs` searches the pool for (little, big) pairs: exhaustive and the
  §6.4.3 odd-corrects heuristic, with single and per-class thresholds and the learned detector.
"""
