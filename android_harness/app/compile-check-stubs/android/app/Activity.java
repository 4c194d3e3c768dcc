// COMPILE-CHECK STUB, not the real Android class. Hand-written from the documented signatures
// (developer.android.com/reference) of exactly the members the harness app uses, so javac can type-check the app where
// there is no android.jar (see android_harness/BUILD.md). Never packaged; every body throws.
package android.app;

public class Activity extends android.content.ContextWrapper {
    protected void onCreate(android.os.Bundle savedInstanceState) { throw new RuntimeException("compile-check stub"); }
    public android.content.Intent getIntent() { throw new RuntimeException("compile-check stub"); }
    public void finish() { throw new RuntimeException("compile-check stub"); }
}
