// COMPILE-CHECK STUB, not the real LiteRT class. Hand-written from the documented signatures
// (ai.google.dev/edge/api/tflite/java, LiteRT 1.4.0) of exactly the members the harness app uses, so javac can type-check the app where
// there is no LiteRT AAR (see android_harness/BUILD.md). Never packaged; every body throws.
package org.tensorflow.lite;

public final class TensorFlowLite {
    public static String runtimeVersion() { throw new RuntimeException("compile-check stub"); }
}
