// COMPILE-CHECK STUB, not the real Android class. Hand-written from the documented signatures
// (developer.android.com/reference) of exactly the members the harness app uses, so javac can type-check the app where
// there is no android.jar (see android_harness/BUILD.md). Never packaged; every body throws.
package android.os.health;

public class SystemHealthManager {
    public void getSupportedPowerMonitors(java.util.concurrent.Executor executor,
            java.util.function.Consumer<java.util.List<android.os.PowerMonitor>> onResult) { throw new RuntimeException("compile-check stub"); }
    public void getPowerMonitorReadings(java.util.List<android.os.PowerMonitor> powerMonitors,
            java.util.concurrent.Executor executor,
            android.os.OutcomeReceiver<android.os.PowerMonitorReadings, RuntimeException> onResult) { throw new RuntimeException("compile-check stub"); }
}
