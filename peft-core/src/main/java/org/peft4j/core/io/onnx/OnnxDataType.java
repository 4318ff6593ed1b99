package org.peft4j.core.io.onnx;

/**
 * The element types of ONNX tensors ({@code TensorProto.DataType}) that peft4j reads as weights; other
 * types (integers, strings, bool) are listed as {@link #OTHER} and not read.
 */
public enum OnnxDataType {
    /** 32-bit IEEE float, code 1. */
    FLOAT(1, 4),
    /** 16-bit IEEE half, code 10. */
    FLOAT16(10, 2),
    /** 64-bit IEEE double, code 11. */
    DOUBLE(11, 8),
    /** bfloat16, code 16. */
    BFLOAT16(16, 2),
    /** Any other type code (integers, bool, string, complex, 8-bit floats). */
    OTHER(-1, 0);

    private final int code;
    private final int byteSize;

    OnnxDataType(int code, int byteSize) {
        this.code = code;
        this.byteSize = byteSize;
    }

    /** The {@code TensorProto.DataType} code; -1 for {@link #OTHER}. */
    public int code() {
        return code;
    }

    /** Bytes per element in {@code raw_data} (0 for {@link #OTHER}). */
    public int byteSize() {
        return byteSize;
    }

    /** True for the types read as weights: FLOAT, FLOAT16, DOUBLE, BFLOAT16. */
    public boolean isFloatingPoint() {
        return this != OTHER;
    }

    /** The type of {@code code}, or {@link #OTHER}. */
    public static OnnxDataType of(int code) {
        for (OnnxDataType t : values()) {
            if (t.code == code) {
                return t;
            }
        }
        return OTHER;
    }
}
