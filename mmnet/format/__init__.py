"""The bundle contract, at the bottom of every layer: JSON Schemas, bundle read/write with
checksums, the runtime configuration, device profiles, preprocessing spec, errors and checks.

Imports nothing of mmnet's other layers; everything else may import it.
"""
