// COMPILE-CHECK STUB, not the real Android class. Hand-written from the documented signatures
// (developer.android.com/reference) of exactly the members the harness app uses, so javac can type-check the app where
// there is no android.jar (see android_harness/BUILD.md). Never packaged; every body throws.
package android.content;

public class ContextWrapper extends Context {
    @Override public java.io.File getExternalFilesDir(String type) { throw new RuntimeException("compile-check stub"); }
    @Override public String getPackageName() { throw new RuntimeException("compile-check stub"); }
    @Override public android.content.pm.PackageManager getPackageManager() { throw new RuntimeException("compile-check stub"); }
    @Override public Intent registerReceiver(BroadcastReceiver receiver, IntentFilter filter) { throw new RuntimeException("compile-check stub"); }
    @Override public Intent registerReceiver(BroadcastReceiver receiver, IntentFilter filter, int flags) { throw new RuntimeException("compile-check stub"); }
    @Override public void unregisterReceiver(BroadcastReceiver receiver) { throw new RuntimeException("compile-check stub"); }
    @Override public ComponentName startForegroundService(Intent service) { throw new RuntimeException("compile-check stub"); }
}
