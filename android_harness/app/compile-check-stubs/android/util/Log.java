// COMPILE-CHECK STUB, not the real Android class. Hand-written from the documented signatures
// (developer.android.com/reference) of exactly the members the harness app uses, so javac can type-check the app where
// there is no android.jar (see android_harness/BUILD.md). Never packaged; every body throws.
package android.util;

public final class Log {
    public static int w(String tag, String msg) { throw new RuntimeException("compile-check stub"); }
    public static int e(String tag, String msg) { throw new RuntimeException("compile-check stub"); }
    public static int e(String tag, String msg, Throwable tr) { throw new RuntimeException("compile-check stub"); }
}
