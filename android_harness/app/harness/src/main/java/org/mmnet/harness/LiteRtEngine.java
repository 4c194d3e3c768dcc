package org.mmnet.harness;

import android.os.Build;
import java.io.File;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import org.mmnet.core.ModelRecord;
import org.mmnet.core.TensorSpec;
import org.mmnet.core.measure.Delegate;
import org.mmnet.core.measure.EngineException;
import org.tensorflow.lite.DataType;
import org.tensorflow.lite.Interpreter;
import org.tensorflow.lite.Tensor;
import org.tensorflow.lite.TensorFlowLite;
import org.tensorflow.lite.gpu.CompatibilityList;
import org.tensorflow.lite.gpu.GpuDelegate;
import org.tensorflow.lite.nnapi.NnApiDelegate;

/**
 * LiteRT's Interpreter API ({@code com.google.ai.edge.litert}, package org.tensorflow.lite) with the
 * four delegates of the protocol. A delegate the phone cannot provide fails the open with
 * "delegate X unavailable: ..." rather than falling back quietly to the CPU.
 */
final class LiteRtEngine implements ModelEngine {

    @Override
    public String runtimeVersion() {
        return TensorFlowLite.runtimeVersion();
    }

    @Override
    public Session open(Path modelFile, Delegate delegate, int threads) {
        return Session.open(modelFile.toFile(), delegate, threads);
    }

    /** One interpreter with its delegate and its input and output buffers (direct, native order). */
    static final class Session implements ModelEngine.Session {
        private final Interpreter interpreter;
        private final org.tensorflow.lite.Delegate accelerator;
        private final ByteBuffer input;
        private final ByteBuffer output;

        private Session(Interpreter interpreter, org.tensorflow.lite.Delegate accelerator) {
            this.interpreter = interpreter;
            this.accelerator = accelerator;
            this.input = direct(interpreter.getInputTensor(0));
            this.output = direct(interpreter.getOutputTensor(0));
        }

        private static ByteBuffer direct(Tensor tensor) {
            return ByteBuffer.allocateDirect(tensor.numBytes()).order(ByteOrder.nativeOrder());
        }

        static Session open(File file, Delegate delegate, int threads) {
            Interpreter.Options options = new Interpreter.Options().setNumThreads(threads);
            org.tensorflow.lite.Delegate accelerator = null;
            switch (delegate) {
                case CPU:
                    options.setUseXNNPACK(false);
                    break;
                case XNNPACK:
                    options.setUseXNNPACK(true);
                    break;
                case GPU:
                    try (CompatibilityList compatibility = new CompatibilityList()) {
                        if (!compatibility.isDelegateSupportedOnThisDevice()) {
                            throw new EngineException("delegate gpu unavailable: this phone's GPU is not on LiteRT's "
                                    + "GPU compatibility list");
                        }
                        accelerator = new GpuDelegate(compatibility.getBestOptionsForThisDevice());
                    }
                    options.addDelegate(accelerator);
                    break;
                case NNAPI:
                    if (Build.VERSION.SDK_INT < 27) {
                        throw new EngineException("delegate nnapi unavailable: NNAPI needs Android 8.1 (API 27), this "
                                + "phone runs API " + Build.VERSION.SDK_INT);
                    }
                    NnApiDelegate.Options nnapi = new NnApiDelegate.Options();
                    // Accelerators only: NNAPI's reference CPU driver would be measured as "nnapi" otherwise.
                    nnapi.setUseNnapiCpu(false);
                    accelerator = new NnApiDelegate(nnapi);
                    options.addDelegate(accelerator);
                    break;
                default:
                    throw new EngineException("delegate " + delegate.wireName() + " is not supported by this app");
            }
            try {
                return new Session(new Interpreter(file, options), accelerator);
            } catch (IllegalArgumentException | IllegalStateException e) {
                // The Interpreter throws these when the file is no model or the delegate cannot be applied.
                if (accelerator != null) {
                    accelerator.close();
                }
                throw new EngineException("delegate " + delegate.wireName() + " cannot run " + file.getName() + ": "
                        + e.getMessage(), e);
            }
        }

        @Override
        public ByteBuffer input() {
            return input;
        }

        @Override
        public ByteBuffer output() {
            return output;
        }

        @Override
        public void requireTensors(ModelRecord record) {
            check(record.id(), "input", interpreter.getInputTensor(0), record.input());
            check(record.id(), "output", interpreter.getOutputTensor(0), record.output());
        }

        private static void check(String id, String which, Tensor tensor, TensorSpec spec) {
            String dtype = dtype(tensor.dataType());
            if (!Arrays.equals(tensor.shape(), spec.shape()) || !dtype.equals(spec.dtype().json())) {
                throw new EngineException("model " + id + ": its " + which + " tensor is " + dtype + " "
                        + Arrays.toString(tensor.shape()) + " but the manifest says " + spec
                        + "; the bundle's manifest does not describe this .tflite file");
            }
        }

        private static String dtype(DataType type) {
            switch (type) {
                case FLOAT32:
                    return "float32";
                case INT8:
                    return "int8";
                case UINT8:
                    return "uint8";
                default:
                    return type.name().toLowerCase(Locale.ROOT);
            }
        }

        @Override
        public void invoke() {
            input.rewind();
            output.rewind();
            interpreter.run(input, output);
        }

        @Override
        public void close() {
            interpreter.close();
            if (accelerator != null) {
                accelerator.close();  // after the interpreter: it uses the delegate until closed
            }
        }
    }
}
