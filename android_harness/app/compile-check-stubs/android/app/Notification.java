// COMPILE-CHECK STUB, not the real Android class. Hand-written from the documented signatures
// (developer.android.com/reference) of exactly the members the harness app uses, so javac can type-check the app where
// there is no android.jar (see android_harness/BUILD.md). Never packaged; every body throws.
package android.app;

public class Notification {
    public static class Builder {
        public Builder(android.content.Context context, String channelId) { throw new RuntimeException("compile-check stub"); }
        public Builder setSmallIcon(int icon) { throw new RuntimeException("compile-check stub"); }
        public Builder setContentTitle(CharSequence title) { throw new RuntimeException("compile-check stub"); }
        public Builder setContentText(CharSequence text) { throw new RuntimeException("compile-check stub"); }
        public Builder setOngoing(boolean ongoing) { throw new RuntimeException("compile-check stub"); }
        public Notification build() { throw new RuntimeException("compile-check stub"); }
    }
}
