// COMPILE-CHECK STUB, not the real Android class. Hand-written from the documented signatures
// (developer.android.com/reference) of exactly the members the harness app uses, so javac can type-check the app where
// there is no android.jar (see android_harness/BUILD.md). Never packaged; every body throws.
package android.content;

public abstract class Context {
    public static final int RECEIVER_EXPORTED = 0x2;
    public abstract java.io.File getExternalFilesDir(String type);
    public abstract String getPackageName();
    public abstract android.content.pm.PackageManager getPackageManager();
    public abstract Intent registerReceiver(BroadcastReceiver receiver, IntentFilter filter);
    public abstract Intent registerReceiver(BroadcastReceiver receiver, IntentFilter filter, int flags);
    public abstract void unregisterReceiver(BroadcastReceiver receiver);
    public abstract ComponentName startForegroundService(Intent service);
    public final String getString(int resId) { throw new RuntimeException("compile-check stub"); }
    public final <T> T getSystemService(Class<T> serviceClass) { throw new RuntimeException("compile-check stub"); }
}
