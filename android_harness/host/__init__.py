"""Host driver for the Android harness (``mmnet harness``): adb, runs, results, device profiles."""
