// COMPILE-CHECK STUB, not the real LiteRT class. Hand-written from the documented signatures
// (ai.google.dev/edge/api/tflite/java, LiteRT 1.4.0) of exactly the members the harness app uses, so javac can type-check the app where
// there is no LiteRT AAR (see android_harness/BUILD.md). Never packaged; every body throws.
package org.tensorflow.lite;

public final class Interpreter implements AutoCloseable {
    public static class Options {
        public Options() { throw new RuntimeException("compile-check stub"); }
        public Options setNumThreads(int numThreads) { throw new RuntimeException("compile-check stub"); }
        public Options setUseXNNPACK(boolean useXNNPACK) { throw new RuntimeException("compile-check stub"); }
        public Options addDelegate(Delegate delegate) { throw new RuntimeException("compile-check stub"); }
    }

    public Interpreter(java.io.File modelFile, Options options) { throw new RuntimeException("compile-check stub"); }
    public Tensor getInputTensor(int inputIndex) { throw new RuntimeException("compile-check stub"); }
    public Tensor getOutputTensor(int outputIndex) { throw new RuntimeException("compile-check stub"); }
    public void run(Object input, Object output) { throw new RuntimeException("compile-check stub"); }
    @Override public void close() { throw new RuntimeException("compile-check stub"); }
}
