package org.peft4j.quant;

import java.nio.ByteBuffer;
import java.nio.FloatBuffer;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * A weight in 8-bit integers with one absmax per row, as bitsandbytes stores LLM.int8() weights
 * ({@code Int8Params}: {@code weight} int8 {@code [out, in]} and {@code SCB}, the row absmaxes): q = round(x·127/a)
 * (half to even), read back as q·a·(1/127) in float32. The outlier decomposition of LLM.int8() (threshold 6.0)
 * is a matter of the activations and is not done here: every column is quantized (bitsandbytes' threshold 0).
 */
public final class RowwiseInt8 implements QuantizedWeight {
    /** bitsandbytes' 1/127 constant of its int8 dequantization. */
    private static final float INV_127 = 7.874015718698502e-3f;

    private final int rows;
    private final int columns;
    private final INDArray weight;   // INT8 [rows, columns]
    private final INDArray scb;      // FLOAT [rows]

    private RowwiseInt8(int rows, int columns, INDArray weight, INDArray scb) {
        this.rows = rows;
        this.columns = columns;
        this.weight = weight;
        this.scb = scb;
    }

    /** Quantizes {@code w} {@code [rows, columns]}. */
    public static RowwiseInt8 quantize(INDArray w) {
        if (w.rank() != 2) {
            throw new IllegalArgumentException("a quantized weight must be a matrix [rows, columns], got shape " + Arrays.toString(w.shape()));
        }
        int rows = (int) w.rows();
        int columns = (int) w.columns();
        float[] v = HostBuffers.rowMajor(w);
        byte[] q = new byte[v.length];
        float[] absmax = new float[rows];
        HostBuffers.split(rows, v.length, (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                float max = 0f;
                for (int c = 0; c < columns; c++) {
                    max = Math.max(max, Math.abs(v[r * columns + c]));
                }
                absmax[r] = max;
                float scale = max == 0f ? 0f : 127.0f / max;
                for (int c = 0; c < columns; c++) {
                    q[r * columns + c] = (byte) Math.rint(v[r * columns + c] * scale);
                }
            }
        });
        return new RowwiseInt8(rows, columns, HostBuffers.bytes(q, DataType.INT8, rows, columns), HostBuffers.floats(absmax, rows));
    }

    /** Reads a weight back from bitsandbytes' tensors {@code weight} (int8 [out, in]) and {@code SCB} ([out]). */
    public static RowwiseInt8 fromTensors(Map<String, INDArray> tensors, String where) {
        INDArray w = tensors.get("weight");
        if (w == null || w.rank() != 2) {
            throw new IllegalArgumentException(where + ": an int8 weight needs a tensor 'weight' [out, in]; tensors: " + tensors.keySet());
        }
        int rows = (int) w.rows();
        INDArray weight = Blockwise4Bit.require(tensors, "weight", where, w.length(), DataType.INT8);
        INDArray scb = Blockwise4Bit.require(tensors, "SCB", where, rows, DataType.FLOAT);
        return new RowwiseInt8(rows, (int) w.columns(), weight.reshape(rows, w.columns()), scb);
    }

    @Override
    public QuantType type() {
        return QuantType.INT8;
    }

    @Override
    public int rows() {
        return rows;
    }

    @Override
    public int columns() {
        return columns;
    }

    @Override
    public void dequantize(int rowFrom, int rowTo, float[] dst) {
        ByteBuffer q = HostBuffers.byteView(weight);
        FloatBuffer a = HostBuffers.floatView(scb);
        HostBuffers.split(rowTo - rowFrom, (long) (rowTo - rowFrom) * columns, (p0, p1) -> {
            for (int r = rowFrom + p0; r < rowFrom + p1; r++) {
                float s = a.get(r);
                int base = r * columns;
                int out = (r - rowFrom) * columns;
                for (int c = 0; c < columns; c++) {
                    dst[out + c] = q.get(base + c) * s * INV_127;
                }
            }
        });
    }

    @Override
    public INDArray dequantizeNd4j(int rowFrom, int rowTo) {
        INDArray q = weight.get(NDArrayIndex.interval(rowFrom, rowTo), NDArrayIndex.all()).castTo(DataType.FLOAT);
        return q.muliColumnVector(scb.get(NDArrayIndex.interval(rowFrom, rowTo)).reshape(rowTo - rowFrom, 1)).muli(INV_127);
    }

    @Override
    public int rowAlignment() {
        return 1;
    }

    @Override
    public long storedBytes() {
        return weight.length() + scb.length() * 4L;
    }

    @Override
    public Map<String, INDArray> tensors() {
        Map<String, INDArray> out = new LinkedHashMap<>();
        out.put("weight", weight);
        out.put("SCB", scb);
        return out;
    }

    @Override
    public void close() {
        weight.close();
        scb.close();
    }

    @Override
    public String toString() {
        return "INT8[" + rows + ", " + columns + "] per row";
    }
}
