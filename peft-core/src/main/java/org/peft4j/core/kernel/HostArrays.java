package org.peft4j.core.kernel;

import java.nio.FloatBuffer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Bulk copies between ND4J arrays in host memory and Java {@code float[]}: a memcpy each way, which
 * costs far less than one of ND4J's element-wise ops on the CPU backend. Only valid on a backend
 * whose buffers live in host memory.
 */
final class HostArrays {
    private HostArrays() {
    }

    /** True if x's elements lie in c order one after another in its buffer (a whole array or a contiguous view). */
    static boolean isContiguous(INDArray x) {
        return x.length() <= 1 || (x.ordering() == 'c' || x.rank() <= 1) && x.elementWiseStride() == 1;
    }

    /** A FLOAT array whose elements are contiguous in c order, with the same values as x (x itself when it already is one). */
    static INDArray contiguous(INDArray x) {
        return isContiguous(x) ? x : x.dup('c');
    }

    /** The elements of a contiguous FLOAT array as a buffer whose index 0 is element 0. */
    static FloatBuffer buffer(INDArray x) {
        if (x.dataType() != DataType.FLOAT || !isContiguous(x)) {
            throw new IllegalArgumentException("host access needs a FLOAT array contiguous in c order, got " + x.dataType() + " order "
                    + x.ordering() + " element stride " + x.elementWiseStride());
        }
        FloatBuffer whole = x.data().asNioFloat();
        whole.position(Math.toIntExact(x.offset()));
        return whole.slice();
    }

    /** All values of x in c order. */
    static float[] read(INDArray x) {  // allocates; kernels use readInto with scratch buffers
        INDArray c = contiguous(x);
        float[] out = new float[Math.toIntExact(c.length())];
        buffer(c).get(0, out);
        return out;
    }

    /** A new FLOAT array of the given shape holding {@code values}. */
    static INDArray create(float[] values, long... shape) {
        INDArray out = Nd4j.createUninitialized(DataType.FLOAT, shape);
        buffer(out).put(0, values, 0, Math.toIntExact(out.length()));
        return out;
    }

    /** Copies all values of x in c order into the start of {@code dst} (which may be longer) and returns it. */
    static float[] readInto(INDArray x, float[] dst) {
        INDArray c = contiguous(x);
        buffer(c).get(0, dst, 0, Math.toIntExact(c.length()));
        return dst;
    }

    /** Overwrites all values of the c-ordered non-view array {@code target}. */
    static void write(INDArray target, float[] values) {
        buffer(target).put(0, values);
    }
}
