package org.peft4j.core.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.Set;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.io.SafetensorsFile;
import org.peft4j.core.model.WeightSource;

/** The tensors of one safetensors file as a {@link WeightSource} (F16 and BF16 widened to FLOAT); close it to close the file. */
public final class SafetensorsWeights implements WeightSource, AutoCloseable {
    private final SafetensorsFile file;

    private SafetensorsWeights(SafetensorsFile file) {
        this.file = file;
    }

    /** Opens {@code path}. */
    public static SafetensorsWeights open(Path path) {
        try {
            return new SafetensorsWeights(SafetensorsFile.open(path));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open " + path, e);
        }
    }

    @Override
    public Set<String> names() {
        return file.names();
    }

    @Override
    public INDArray get(String name) {
        return file.readAsFloat(name);
    }

    @Override
    public void close() throws IOException {
        file.close();
    }
}
