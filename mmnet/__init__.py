"""mmnet: systems of minion and master networks for mobile devices.

One import namespace over the repository's folders: ``mmnet.format`` and ``mmnet.server`` and
``mmnet.cli`` live in ``mmnet/``, ``mmnet.runtime`` in ``mobile_runtime/``, ``mmnet.pipeline`` in
``pipeline/``, ``mmnet.benchmarks`` in ``benchmarks/``, ``mmnet.harness`` in
``android_harness/host/`` (BUILD.md has the layer picture).
"""

from mmnet.format.version import __version__

__all__ = ["__version__"]
