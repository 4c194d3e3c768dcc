// COMPILE-CHECK STUB, not the real Android class. Hand-written from the documented signatures
// (developer.android.com/reference) of exactly the members the harness app uses, so javac can type-check the app where
// there is no android.jar (see android_harness/BUILD.md). Never packaged; every body throws.
package android.os;

public final class PowerManager {
    public static final int PARTIAL_WAKE_LOCK = 0x00000001;

    public interface OnThermalStatusChangedListener {
        void onThermalStatusChanged(int status);
    }

    public final class WakeLock {
        public void setReferenceCounted(boolean value) { throw new RuntimeException("compile-check stub"); }
        public void acquire(long timeout) { throw new RuntimeException("compile-check stub"); }
        public void release() { throw new RuntimeException("compile-check stub"); }
    }

    public WakeLock newWakeLock(int levelAndFlags, String tag) { throw new RuntimeException("compile-check stub"); }
    public int getCurrentThermalStatus() { throw new RuntimeException("compile-check stub"); }
    public void addThermalStatusListener(java.util.concurrent.Executor executor, OnThermalStatusChangedListener listener) { throw new RuntimeException("compile-check stub"); }
    public void removeThermalStatusListener(OnThermalStatusChangedListener listener) { throw new RuntimeException("compile-check stub"); }
}
