// COMPILE-CHECK STUB, not the real Android class. Hand-written from the documented signatures
// (developer.android.com/reference) of exactly the members the harness app uses, so javac can type-check the app where
// there is no android.jar (see android_harness/BUILD.md). Never packaged; every body throws.
package android.app;

public abstract class Service extends android.content.ContextWrapper {
    public static final int START_NOT_STICKY = 2;
    public void onCreate() { throw new RuntimeException("compile-check stub"); }
    public int onStartCommand(android.content.Intent intent, int flags, int startId) { throw new RuntimeException("compile-check stub"); }
    public void onDestroy() { throw new RuntimeException("compile-check stub"); }
    public abstract android.os.IBinder onBind(android.content.Intent intent);
    public final void startForeground(int id, Notification notification) { throw new RuntimeException("compile-check stub"); }
    public final void startForeground(int id, Notification notification, int foregroundServiceType) { throw new RuntimeException("compile-check stub"); }
    public final void stopSelf(int startId) { throw new RuntimeException("compile-check stub"); }
}
