package org.peft4j.core.io.onnx;

/** A valid ONNX model of every storage form peft4j reads, for the fuzz seeds (see FuzzSeeds). */
public final class OnnxSeeds {
    private OnnxSeeds() {
    }

    /** {@link OnnxWeightsTest#graph()} as a model file. */
    public static byte[] model() {
        return Proto.model(OnnxWeightsTest.graph());
    }
}
