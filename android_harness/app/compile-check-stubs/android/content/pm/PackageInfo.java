// COMPILE-CHECK STUB, not the real Android class. Hand-written from the documented signatures
// (developer.android.com/reference) of exactly the members the harness app uses, so javac can type-check the app where
// there is no android.jar (see android_harness/BUILD.md). Never packaged; every body throws.
package android.content.pm;

public class PackageInfo {
    public String versionName;
    /** @deprecated Use getLongVersionCode() (API 28). */
    @Deprecated
    public int versionCode;
    public long getLongVersionCode() { throw new RuntimeException("compile-check stub"); }
}
