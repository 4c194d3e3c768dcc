// COMPILE-CHECK STUB, not the real Android class. Hand-written from the documented signatures
// (developer.android.com/reference) of exactly the members the harness app uses, so javac can type-check the app where
// there is no android.jar (see android_harness/BUILD.md). Never packaged; every body throws.
package android.os;

public class Build {
    public static final String MANUFACTURER = null;
    public static final String MODEL = null;
    public static final String DEVICE = null;
    public static final String FINGERPRINT = null;
    public static final String[] SUPPORTED_ABIS = null;
    public static final String SOC_MANUFACTURER = null;
    public static final String SOC_MODEL = null;

    public static class VERSION {
        public static final int SDK_INT = 0;
        public static final String RELEASE = null;
    }
}
