"""The Android harness: the phone app (``app/``), its pure-Java core (``core/``) and the host driver."""
