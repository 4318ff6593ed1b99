package org.peft4j.core.io.onnx;

import com.google.protobuf.CodedOutputStream;
import com.google.protobuf.WireFormat;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/** Writes protobuf messages field by field, to build ONNX files (valid and broken) for tests. */
final class Proto {
    private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    private final CodedOutputStream out = CodedOutputStream.newInstance(bytes);

    private interface Write {
        void run() throws IOException;
    }

    private Proto write(Write w) {
        try {
            w.run();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return this;
    }

    Proto varint(int field, long value) {
        return write(() -> out.writeInt64(field, value));
    }

    Proto string(int field, String value) {
        return write(() -> out.writeString(field, value));
    }

    Proto bytes(int field, byte[] value) {
        return write(() -> out.writeByteArray(field, value));
    }

    Proto message(int field, Proto value) {
        return bytes(field, value.toBytes());
    }

    Proto fixed32Float(int field, float value) {
        return write(() -> out.writeFloat(field, value));
    }

    /** A raw tag followed by nothing: for wire types a writer never produces (groups). */
    Proto tag(int field, int wireType) {
        return write(() -> out.writeTag(field, wireType));
    }

    /** A length-delimited field that claims {@code claimed} bytes but holds {@code actual}. */
    Proto lyingLength(int field, int claimed, byte[] actual) {
        return write(() -> {
            out.writeTag(field, WireFormat.WIRETYPE_LENGTH_DELIMITED);
            out.writeUInt32NoTag(claimed);
            out.writeRawBytes(actual);
        });
    }

    byte[] toBytes() {
        return write(out::flush).bytes.toByteArray();
    }

    static byte[] floats(float... values) {
        ByteBuffer b = ByteBuffer.allocate(4 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) {
            b.putFloat(v);
        }
        return b.array();
    }

    static byte[] doubles(double... values) {
        ByteBuffer b = ByteBuffer.allocate(8 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        for (double v : values) {
            b.putDouble(v);
        }
        return b.array();
    }

    static byte[] shorts(int... values) {
        ByteBuffer b = ByteBuffer.allocate(2 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        for (int v : values) {
            b.putShort((short) v);
        }
        return b.array();
    }

    // onnx.proto field numbers and type codes used by the tests
    static final int MODEL_IR_VERSION = 1;
    static final int MODEL_PRODUCER_NAME = 2;
    static final int MODEL_PRODUCER_VERSION = 3;
    static final int MODEL_GRAPH = 7;
    static final int GRAPH_NODE = 1;
    static final int GRAPH_INITIALIZER = 5;
    static final int GRAPH_INPUT = 11;
    static final int GRAPH_OUTPUT = 12;
    static final int TENSOR_DIMS = 1;
    static final int TENSOR_DATA_TYPE = 2;
    static final int TENSOR_FLOAT_DATA = 4;
    static final int TENSOR_INT64_DATA = 7;
    static final int TENSOR_NAME = 8;
    static final int TENSOR_RAW_DATA = 9;
    static final int TENSOR_DOUBLE_DATA = 10;
    static final int TENSOR_DATA_LOCATION = 14;
    static final int FLOAT = 1;
    static final int INT64 = 7;
    static final int FLOAT16 = 10;
    static final int DOUBLE = 11;

    /** A TensorProto header: name, type and dims (unpacked, as onnx.proto declares them). */
    static Proto tensor(String name, int dataType, long... dims) {
        Proto t = new Proto();
        for (long d : dims) {
            t.varint(TENSOR_DIMS, d);
        }
        return t.varint(TENSOR_DATA_TYPE, dataType).string(TENSOR_NAME, name);
    }

    static Proto node(String name, String opType, String[] inputs, String... outputs) {
        Proto n = new Proto();
        for (String i : inputs) {
            n.string(1, i);
        }
        for (String o : outputs) {
            n.string(2, o);
        }
        return n.string(3, name).string(4, opType);
    }

    static Proto valueInfo(String name) {
        return new Proto().string(1, name);
    }

    static byte[] model(Proto graph) {
        return new Proto().varint(MODEL_IR_VERSION, 8).string(MODEL_PRODUCER_NAME, "peft4j-test").string(MODEL_PRODUCER_VERSION, "1.0")
                .message(MODEL_GRAPH, graph).toBytes();
    }
}
