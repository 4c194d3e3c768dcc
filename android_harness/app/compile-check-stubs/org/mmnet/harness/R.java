// COMPILE-CHECK STUB, not the real class AGP generates. Hand-written from the documented signatures
// (the app's res/ directory) of exactly the members the harness app uses, so javac can type-check the app where
// there is no Android Gradle plugin (see android_harness/BUILD.md). Never packaged; every body throws.
package org.mmnet.harness;

public final class R {
    public static final class string {
        public static final int app_name = 0x7f010000;
        public static final int channel_name = 0x7f010001;
        public static final int notification_title = 0x7f010002;
    }

    public static final class drawable {
        public static final int ic_run = 0x7f020000;
    }
}
