// COMPILE-CHECK STUB, not the real Android class. Hand-written from the documented signatures
// (developer.android.com/reference) of exactly the members the harness app uses, so javac can type-check the app where
// there is no android.jar (see android_harness/BUILD.md). Never packaged; every body throws.
package android.content;

public class Intent {
    public static final String ACTION_BATTERY_CHANGED = "android.intent.action.BATTERY_CHANGED";
    public Intent(Context packageContext, Class<?> cls) { throw new RuntimeException("compile-check stub"); }
    public Intent putExtra(String name, String value) { throw new RuntimeException("compile-check stub"); }
    public String getStringExtra(String name) { throw new RuntimeException("compile-check stub"); }
    public int getIntExtra(String name, int defaultValue) { throw new RuntimeException("compile-check stub"); }
}
