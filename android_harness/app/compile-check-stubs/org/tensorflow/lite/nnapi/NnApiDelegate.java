// COMPILE-CHECK STUB, not the real LiteRT class. Hand-written from the documented signatures
// (ai.google.dev/edge/api/tflite/java, LiteRT 1.4.0) of exactly the members the harness app uses, so javac can type-check the app where
// there is no LiteRT AAR (see android_harness/BUILD.md). Never packaged; every body throws.
package org.tensorflow.lite.nnapi;

public class NnApiDelegate implements org.tensorflow.lite.Delegate, AutoCloseable {
    public static final class Options {
        public Options() { throw new RuntimeException("compile-check stub"); }
        public Options setUseNnapiCpu(boolean enable) { throw new RuntimeException("compile-check stub"); }
    }

    public NnApiDelegate(Options options) { throw new RuntimeException("compile-check stub"); }
    @Override public long getNativeHandle() { throw new RuntimeException("compile-check stub"); }
    @Override public void close() { throw new RuntimeException("compile-check stub"); }
}
