package org.peft4j.core.io;

import java.nio.ByteBuffer;
import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;
import java.nio.ShortBuffer;
import java.util.Arrays;
import java.util.Optional;
import java.util.stream.Collectors;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * The element types of the safetensors format that peft4j reads and writes, each with its size in bytes and
 * its ND4J {@link DataType}.
 *
 * <p>The constant names are the safetensors dtype strings ({@code "F32"}, {@code "BF16"}, ...). All multi-byte
 * types are stored little-endian in a file.
 */
public enum SafetensorsDType {
    F64(8, DataType.DOUBLE, true),
    F32(4, DataType.FLOAT, true),
    F16(2, DataType.FLOAT16, true),
    BF16(2, DataType.BFLOAT16, true),
    I64(8, DataType.INT64, false),
    I32(4, DataType.INT32, false),
    I16(2, DataType.INT16, false),
    I8(1, DataType.INT8, false),
    U8(1, DataType.UINT8, false),
    BOOL(1, DataType.BOOL, false);

    /** Elements converted per block when widening to float, so the scratch arrays stay small. */
    private static final int WIDEN_BLOCK = 1 << 16;

    private final int byteSize;
    private final DataType dataType;
    private final boolean floatingPoint;

    SafetensorsDType(int byteSize, DataType dataType, boolean floatingPoint) {
        this.byteSize = byteSize;
        this.dataType = dataType;
        this.floatingPoint = floatingPoint;
    }

    /** The size of one element in bytes. */
    public int byteSize() {
        return byteSize;
    }

    /** The dtype string written in a safetensors header, e.g. {@code "BF16"}. */
    public String safetensorsName() {
        return name();
    }

    /** The ND4J data type that holds this dtype without conversion. */
    public DataType dataType() {
        return dataType;
    }

    /** Whether this is one of the floating-point dtypes F64, F32, F16 and BF16. */
    public boolean isFloatingPoint() {
        return floatingPoint;
    }

    /** The dtype whose safetensors name is exactly {@code name}, or empty if peft4j does not support it. */
    public static Optional<SafetensorsDType> fromSafetensorsName(String name) {
        for (SafetensorsDType dtype : values()) {
            if (dtype.name().equals(name)) {
                return Optional.of(dtype);
            }
        }
        return Optional.empty();
    }

    /** The dtype that stores ND4J arrays of {@code dataType}; fails for types safetensors cannot hold here. */
    public static SafetensorsDType of(DataType dataType) {
        for (SafetensorsDType dtype : values()) {
            if (dtype.dataType == dataType) {
                return dtype;
            }
        }
        throw new IllegalArgumentException("ND4J data type " + dataType + " cannot be stored in safetensors; supported: "
                + Arrays.stream(values()).map(d -> d.dataType.name()).collect(Collectors.joining(", ")));
    }

    /** The safetensors names of all supported dtypes, comma-separated, for error messages. */
    public static String allowedNames() {
        return Arrays.stream(values()).map(Enum::name).collect(Collectors.joining(", "));
    }

    /** Converts IEEE 754 half-precision bits (F16) to the float of the same value; NaN payloads are kept. */
    public static float halfToFloat(short bits) {
        int h = bits & 0xFFFF;
        int sign = (h & 0x8000) << 16;
        int exponent = (h >>> 10) & 0x1F;
        int mantissa = h & 0x3FF;
        if (exponent == 0x1F) {                              // infinity or NaN
            return Float.intBitsToFloat(sign | 0x7F80_0000 | (mantissa << 13));
        }
        if (exponent != 0) {                                 // normal: rebias the exponent from 15 to 127
            return Float.intBitsToFloat(sign | ((exponent + 127 - 15) << 23) | (mantissa << 13));
        }
        float magnitude = mantissa * 0x1p-24f;               // zero or subnormal: mantissa · 2^-24, exact
        return sign == 0 ? magnitude : -magnitude;
    }

    /** Converts bfloat16 bits (BF16, the upper half of a float) to the float of the same value. */
    public static float bfloat16ToFloat(short bits) {
        return Float.intBitsToFloat(bits << 16);             // the sign-extended low bits are shifted out
    }

    /**
     * Copies all remaining elements of {@code source} to {@code target}, converting from the source's byte order to
     * the target's. Both buffers must have the same number of remaining bytes; their positions are not changed.
     */
    void copy(ByteBuffer source, ByteBuffer target) {
        if (source.remaining() != target.remaining()) {
            throw new IllegalArgumentException("cannot copy " + source.remaining() + " bytes into " + target.remaining());
        }
        // Integer views move the bits unchanged, so NaN payloads and -0.0 survive.
        switch (byteSize) {
            case 1 -> target.duplicate().put(source.duplicate());
            case 2 -> target.asShortBuffer().put(source.asShortBuffer());
            case 4 -> target.asIntBuffer().put(source.asIntBuffer());
            case 8 -> target.asLongBuffer().put(source.asLongBuffer());
            default -> throw new IllegalStateException("no copy for element size " + byteSize);
        }
    }

    /**
     * Converts all remaining elements of {@code source} (F64, F16 or BF16 in the source's byte order) to floats and
     * puts them into {@code target}; F64 values are rounded to the nearest float.
     */
    void widenToFloat(ByteBuffer source, FloatBuffer target) {
        float[] block = new float[WIDEN_BLOCK];
        switch (this) {
            case F16, BF16 -> {
                ShortBuffer in = source.asShortBuffer();
                short[] bits = new short[WIDEN_BLOCK];
                while (in.hasRemaining()) {
                    int count = Math.min(WIDEN_BLOCK, in.remaining());
                    in.get(bits, 0, count);
                    for (int i = 0; i < count; i++) {
                        block[i] = this == F16 ? halfToFloat(bits[i]) : bfloat16ToFloat(bits[i]);
                    }
                    target.put(block, 0, count);
                }
            }
            case F64 -> {
                DoubleBuffer in = source.asDoubleBuffer();
                double[] values = new double[WIDEN_BLOCK];
                while (in.hasRemaining()) {
                    int count = Math.min(WIDEN_BLOCK, in.remaining());
                    in.get(values, 0, count);
                    for (int i = 0; i < count; i++) {
                        block[i] = (float) values[i];
                    }
                    target.put(block, 0, count);
                }
            }
            default -> throw new IllegalStateException(this + " is not widened; copy it instead");
        }
    }
}
