package org.peft4j.quant;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.stream.IntStream;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.DynamicCustomOp;
import org.nd4j.linalg.factory.Nd4j;

/** Byte and float access to whole (non-view) ND4J arrays in host memory, and the few shared helpers of the dequant paths. */
final class HostBuffers {
    /** Below this many elements a dequantization runs on one thread. */
    static final int PARALLEL_THRESHOLD = 1 << 16;

    private HostBuffers() {
    }

    /** A new UINT8 (or INT8) array {@code shape} holding {@code bytes}, outside any workspace. */
    static INDArray bytes(byte[] bytes, DataType type, long... shape) {
        try (var ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            INDArray out = Nd4j.createUninitialized(type, shape);
            byteView(out).put(bytes);
            return out;
        }
    }

    /** A new FLOAT array holding {@code values}, outside any workspace. */
    static INDArray floats(float[] values, long... shape) {
        try (var ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            INDArray out = Nd4j.createUninitialized(DataType.FLOAT, shape);
            floatView(out).put(values);
            return out;
        }
    }

    /** True if x's elements are the first x.length() elements of its buffer in c order (a whole array or a reshape of one). */
    static boolean startsItsBuffer(INDArray x) {
        return x.offset() == 0 && (x.length() <= 1 || (x.rank() <= 1 || x.ordering() == 'c') && x.elementWiseStride() == 1);
    }

    /** The bytes of a whole 1-byte array, position 0 at element 0. */
    static ByteBuffer byteView(INDArray x) {
        if (x.dataType().width() != 1 || !startsItsBuffer(x)) {
            throw new IllegalArgumentException("byte access needs a whole UINT8 or INT8 array, got " + x.dataType() + (x.isView() ? " view" : ""));
        }
        ByteBuffer b = x.data().asNio();
        b.position(0);
        b.limit(Math.toIntExact(x.length()));
        return b.slice();
    }

    /** The values of a whole FLOAT array, position 0 at element 0. */
    static FloatBuffer floatView(INDArray x) {
        if (x.dataType() != DataType.FLOAT || !startsItsBuffer(x)) {
            throw new IllegalArgumentException("float access needs a whole FLOAT array, got " + x.dataType() + (x.isView() ? " view" : ""));
        }
        ByteBuffer b = x.data().asNio().order(ByteOrder.nativeOrder());
        b.position(0);
        FloatBuffer f = b.asFloatBuffer();
        f.limit(Math.toIntExact(x.length()));
        return f.slice();
    }

    /** All values of a whole FLOAT array. */
    static float[] readFloats(INDArray x) {
        float[] out = new float[Math.toIntExact(x.length())];
        floatView(x).get(out);
        return out;
    }

    /** The values of a float32 matrix in c order (any array; copied). */
    static float[] rowMajor(INDArray w) {
        INDArray c = w.dataType() == DataType.FLOAT ? w.dup('c') : w.castTo(DataType.FLOAT).dup('c');
        try {
            return readFloats(c);
        } finally {
            c.close();
        }
    }

    /** Runs {@code body(from, to)} over [0, count) split in contiguous parts, in parallel when there is enough {@code work}. */
    static void split(int count, long work, RangeBody body) {
        int cores = Runtime.getRuntime().availableProcessors();
        int tasks = work < PARALLEL_THRESHOLD ? 1 : Math.min(count, cores);
        if (tasks <= 1) {
            body.run(0, count);
            return;
        }
        IntStream.range(0, tasks).parallel().forEach(t -> body.run((int) ((long) count * t / tasks), (int) ((long) count * (t + 1) / tasks)));
    }

    /** A part of a range. */
    interface RangeBody {
        void run(int from, int to);
    }

    /** out[i] = table[index[i]] with ND4J's gather: {@code index} INT32 or INT64, {@code table} 1-D. */
    static INDArray gather(INDArray table, INDArray index) {
        INDArray out = Nd4j.createUninitialized(table.dataType(), index.length());
        Nd4j.exec(DynamicCustomOp.builder("gather").addInputs(table, index.reshape(index.length())).addOutputs(out)
                .addIntegerArguments(0).build());
        return out;
    }
}
