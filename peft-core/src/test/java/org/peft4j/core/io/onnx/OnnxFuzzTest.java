package org.peft4j.core.io.onnx;

import com.code_intelligence.jazzer.junit.FuzzTest;
import java.nio.file.Path;
import org.junit.jupiter.api.Tag;
import org.peft4j.core.fuzz.FuzzFiles;

/**
 * Fuzzes the ONNX weight reader (protobuf fields, initializer storage forms, dims, the graph's nodes) by
 * opening each input, reading every floating-point initializer and mapping the weights to HF names. Only
 * {@link OnnxFormatException} may come out of {@code open} and {@code get}; the HF name mapping may also
 * reject a graph it does not recognise with an IllegalArgumentException.
 */
class OnnxFuzzTest {
    static void openAndReadAll(byte[] data) {
        Path file = FuzzFiles.write("model.onnx", data);
        FuzzFiles.expectOnly(() -> {
            try (OnnxWeights onnx = OnnxWeights.open(file)) {
                for (String name : onnx.names()) {
                    onnx.get(name).close();
                }
                onnx.nodes();
                FuzzFiles.expectOnly(() -> OnnxHfNames.of(onnx), IllegalArgumentException.class);
            }
        }, OnnxFormatException.class);
    }

    @FuzzTest(maxExecutions = 4000)
    void onnx(byte[] data) {
        openAndReadAll(data);
    }

    @Tag("jazzer-long")
    @FuzzTest(maxExecutions = 100_000, maxDuration = "60m")
    void onnxLong(byte[] data) {
        openAndReadAll(data);
    }
}
