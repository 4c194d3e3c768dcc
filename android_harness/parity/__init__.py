"""Golden traces for the Java core's parity with the Python runtime (``python -m android_harness.parity.generate``)."""
