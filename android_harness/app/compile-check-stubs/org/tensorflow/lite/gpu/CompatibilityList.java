// COMPILE-CHECK STUB, not the real LiteRT class. Hand-written from the documented signatures
// (ai.google.dev/edge/api/tflite/java, LiteRT 1.4.0) of exactly the members the harness app uses, so javac can type-check the app where
// there is no LiteRT AAR (see android_harness/BUILD.md). Never packaged; every body throws.
package org.tensorflow.lite.gpu;

public class CompatibilityList implements java.io.Closeable {
    public CompatibilityList() { throw new RuntimeException("compile-check stub"); }
    public boolean isDelegateSupportedOnThisDevice() { throw new RuntimeException("compile-check stub"); }
    public GpuDelegate.Options getBestOptionsForThisDevice() { throw new RuntimeException("compile-check stub"); }
    @Override public void close() { throw new RuntimeException("compile-check stub"); }
}
