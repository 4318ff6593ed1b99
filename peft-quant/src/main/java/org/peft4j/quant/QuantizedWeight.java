package org.peft4j.quant;

import java.util.Map;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * A frozen weight matrix {@code [rows, columns]} (a Linear's {@code [out, in]}) kept in a quantized form.
 * It can give back any range of rows in float32 two ways that give identical values: in plain Java over host
 * memory ({@link #dequantize}, the CPU path) or with ND4J ops only ({@link #dequantizeNd4j}, which runs on
 * any backend, CUDA included).
 */
public interface QuantizedWeight extends AutoCloseable {
    /** The format. */
    QuantType type();

    /** Rows: a Linear's output features. */
    int rows();

    /** Columns: a Linear's input features. */
    int columns();

    /**
     * Writes rows {@code [rowFrom, rowTo)} in float32, row-major, into {@code dst} from index 0. Needs the
     * arrays in host memory (ND4J's CPU backend).
     */
    void dequantize(int rowFrom, int rowTo, float[] dst);

    /** Rows {@code [rowFrom, rowTo)} as a new FLOAT array {@code [rowTo − rowFrom, columns]}, computed with ND4J ops only. */
    INDArray dequantizeNd4j(int rowFrom, int rowTo);

    /** Row ranges given to {@link #dequantizeNd4j} must start at a multiple of this (so they start on a block). */
    int rowAlignment();

    /** Bytes held: the packed values and every constant. */
    long storedBytes();

    /**
     * The tensors that store this weight in bitsandbytes' serialization, by name relative to the layer
     * ({@code weight}, {@code weight.absmax}, ...). The arrays are this weight's own: do not change them.
     */
    Map<String, INDArray> tensors();

    /** Frees the arrays. */
    @Override
    void close();
}
