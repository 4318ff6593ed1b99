package org.peft4j.core.io.onnx;

import com.google.protobuf.CodedInputStream;
import com.google.protobuf.WireFormat;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.DoubleBuffer;
import java.nio.FloatBuffer;
import java.nio.ShortBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.peft4j.core.io.SafetensorsDType;
import org.peft4j.core.model.WeightSource;

/**
 * The initializers (weights) and node list of an ONNX model file, as a {@link WeightSource} over the
 * initializers' own names. The file is memory-mapped; {@link #open} reads the protobuf structure
 * ({@code ModelProto.graph} → {@code GraphProto.initializer} and {@code node}) field by field with
 * protobuf's {@link CodedInputStream}, records where each tensor's data lies and checks every size
 * against the data actually present, so reading a tensor never allocates more than the file holds.
 * Tensor data is copied only when a tensor is read.
 *
 * <p>Supported: self-contained files below 2 GiB (the protobuf limit), floating-point initializers
 * (FLOAT, FLOAT16, BFLOAT16, DOUBLE) stored in {@code raw_data}, or FLOAT/DOUBLE in
 * {@code float_data}/{@code double_data}. Tensors in external data files are rejected at open.
 * Initializers of other types (integer shape constants) are listed by {@link #initializers()} but are
 * not weights. The names of an exported PyTorch model's MatMul weights are opaque
 * ({@code onnx::MatMul_123}); {@link OnnxHfNames} maps them to HF parameter paths through the graph.
 */
public final class OnnxWeights implements WeightSource, AutoCloseable {
    /** The largest rank ND4J can hold; a tensor with more dims is rejected. */
    public static final int MAX_RANK = 32;

    // ModelProto, GraphProto, NodeProto, TensorProto and ValueInfoProto field numbers (onnx/onnx.proto)
    private static final int MODEL_IR_VERSION = 1;
    private static final int MODEL_PRODUCER_NAME = 2;
    private static final int MODEL_PRODUCER_VERSION = 3;
    private static final int MODEL_GRAPH = 7;
    private static final int GRAPH_NODE = 1;
    private static final int GRAPH_NAME = 2;
    private static final int GRAPH_INITIALIZER = 5;
    private static final int GRAPH_INPUT = 11;
    private static final int GRAPH_OUTPUT = 12;
    private static final int NODE_INPUT = 1;
    private static final int NODE_OUTPUT = 2;
    private static final int NODE_NAME = 3;
    private static final int NODE_OP_TYPE = 4;
    private static final int VALUE_INFO_NAME = 1;
    private static final int TENSOR_DIMS = 1;
    private static final int TENSOR_DATA_TYPE = 2;
    private static final int TENSOR_FLOAT_DATA = 4;
    private static final int TENSOR_NAME = 8;
    private static final int TENSOR_RAW_DATA = 9;
    private static final int TENSOR_DOUBLE_DATA = 10;
    private static final int TENSOR_DATA_LOCATION = 14;
    private static final int DATA_LOCATION_EXTERNAL = 1;
    private static final int MAX_NAMES_IN_MESSAGE = 20;
    /** Bounds on counts, so that a hostile file of many tiny records cannot make open() run out of memory. */
    private static final int MAX_NODES = 1 << 22;
    private static final int MAX_INITIALIZERS = 1 << 22;
    private static final int MAX_NODE_ARGUMENTS = 1 << 16;
    /** Unpacked float_data/double_data (one tag per value) beyond this is rejected; writers pack large tensors. */
    private static final int MAX_UNPACKED_VALUES = 1 << 24;

    /**
     * One initializer: its name, element type ({@code dataTypeCode} is the ONNX code, also for
     * {@link OnnxDataType#OTHER}) and dims.
     */
    public record Initializer(String name, OnnxDataType dataType, int dataTypeCode, long[] dims) {
        public Initializer {
            Objects.requireNonNull(name, "initializer name");
            dims = dims.clone();
        }

        @Override
        public long[] dims() {
            return dims.clone();
        }

        /** Number of elements: the product of the dims (1 for a scalar). */
        public long numel() {
            long n = 1;
            for (long d : dims) {
                n *= d;
            }
            return n;
        }

        @Override
        public boolean equals(Object other) {
            return other instanceof Initializer i && name.equals(i.name) && dataTypeCode == i.dataTypeCode && Arrays.equals(dims, i.dims);
        }

        @Override
        public int hashCode() {
            return Objects.hash(name, dataTypeCode, Arrays.hashCode(dims));
        }

        @Override
        public String toString() {
            return name + " " + dataType + Arrays.toString(dims);
        }
    }

    /** One node of the graph: {@code opType} applied to the named inputs, giving the named outputs. */
    public record Node(String name, String opType, List<String> inputs, List<String> outputs) {
        public Node {
            inputs = List.copyOf(inputs);
            outputs = List.copyOf(outputs);
        }
    }

    /** How a tensor's values are stored in the file. */
    private enum Storage {
        /** Little-endian elements of the tensor's type at [offset, offset + length). */
        BYTES,
        /** Values parsed from unpacked float_data or double_data fields. */
        VALUES,
        /** No elements (numel 0) or not a floating-point tensor. */
        NONE
    }

    private record Stored(Initializer info, Storage storage, OnnxDataType bytesType, int offset, int length, double[] values) {
    }

    private final Path file;
    private final ByteBuffer mapped;
    private final long irVersion;
    private final String producer;
    private final String graphName;
    private final Map<String, Stored> initializers;
    private final Set<String> weightNames;
    private final List<Node> nodes;
    private final List<String> graphInputs;
    private final List<String> graphOutputs;
    private volatile boolean closed;

    private OnnxWeights(Path file, ByteBuffer mapped, Parsed parsed) {
        this.file = file;
        this.mapped = mapped;
        this.irVersion = parsed.irVersion;
        this.producer = parsed.producer;
        this.graphName = parsed.graphName;
        this.initializers = Collections.unmodifiableMap(parsed.initializers);
        Set<String> weights = new LinkedHashSet<>();
        parsed.initializers.forEach((name, s) -> {
            if (s.info().dataType().isFloatingPoint()) {
                weights.add(name);
            }
        });
        this.weightNames = Collections.unmodifiableSet(weights);
        this.nodes = List.copyOf(parsed.nodes);
        this.graphInputs = List.copyOf(parsed.inputs);
        this.graphOutputs = List.copyOf(parsed.outputs);
    }

    /**
     * Opens {@code file} and reads its graph structure; throws {@link OnnxFormatException} if the bytes are
     * not an ONNX model peft4j can read, and {@link IOException} if the file cannot be read.
     */
    public static OnnxWeights open(Path file) throws IOException {
        Objects.requireNonNull(file, "file");
        ByteBuffer mapped;
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = channel.size();
            if (size > Integer.MAX_VALUE) {
                throw new OnnxFormatException(file, "file is " + size + " bytes; a self-contained ONNX file is below 2 GiB (the protobuf"
                        + " limit), larger models keep their weights in external data files, which are not supported");
            }
            mapped = size == 0 ? ByteBuffer.allocate(0) : channel.map(FileChannel.MapMode.READ_ONLY, 0, size);
        }
        Parsed parsed = new Parsed();
        try {
            CodedInputStream in = CodedInputStream.newInstance(mapped.duplicate());
            in.pushLimit(mapped.capacity());                  // lengths are checked against what is left of the file
            parseModel(in, file, parsed);
        } catch (OnnxFormatException e) {
            throw e;
        } catch (IOException | RuntimeException e) {
            throw new OnnxFormatException(file, "not a readable ONNX model (" + e.getMessage() + ")", e);
        }
        if (!parsed.sawGraph) {
            throw new OnnxFormatException(file, "no graph (ModelProto field 7): the file is empty, truncated or not an ONNX model");
        }
        return new OnnxWeights(file, mapped, parsed);
    }

    /** The file this was opened from. */
    public Path path() {
        return file;
    }

    /** {@code ModelProto.ir_version}. */
    public long irVersion() {
        return irVersion;
    }

    /** {@code ModelProto.producer_name} and {@code producer_version}, e.g. "pytorch 2.1.0" (empty if not set). */
    public String producer() {
        return producer;
    }

    /** {@code GraphProto.name}. */
    public String graphName() {
        return graphName;
    }

    /** The names of the floating-point initializers, in file order: the weights. */
    @Override
    public Set<String> names() {
        return weightNames;
    }

    /** Every initializer, weights and other constants, by name in file order. */
    public Map<String, Initializer> initializers() {
        Map<String, Initializer> out = new LinkedHashMap<>();
        initializers.forEach((name, s) -> out.put(name, s.info()));
        return Collections.unmodifiableMap(out);
    }

    /** The initializer {@code name}; fails listing the names if there is none. */
    public Initializer initializer(String name) {
        return stored(name).info();
    }

    /** The graph's nodes in file order (ONNX requires topological order). */
    public List<Node> nodes() {
        return nodes;
    }

    /** Names of the graph inputs (with initializers too, in files of IR version below 4). */
    public List<String> graphInputs() {
        return graphInputs;
    }

    /** Names of the graph outputs, e.g. {@code last_hidden_state}. */
    public List<String> graphOutputs() {
        return graphOutputs;
    }

    /**
     * Initializer {@code name} as a new c-ordered FLOAT array of its dims, outside any workspace: FLOAT16 and
     * BFLOAT16 are widened exactly, DOUBLE rounded to the nearest float. The caller owns it.
     */
    @Override
    public INDArray get(String name) {
        Stored s = stored(name);
        if (!s.info().dataType().isFloatingPoint()) {
            throw new IllegalArgumentException(file + ": initializer '" + name + "' has ONNX type " + s.info().dataTypeCode()
                    + ", not a floating-point weight; weights are FLOAT, FLOAT16, BFLOAT16 or DOUBLE");
        }
        if (closed) {
            throw new IllegalStateException(file + " is closed; open it again to read '" + name + "'");
        }
        float[] values = new float[Math.toIntExact(s.info().numel())];
        switch (s.storage()) {
            case BYTES -> readBytes(s, values);
            case VALUES -> {
                for (int i = 0; i < values.length; i++) {
                    values[i] = (float) s.values()[i];
                }
            }
            case NONE -> {
                // numel is 0
            }
        }
        try (var ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            long[] dims = s.info().dims();
            return dims.length == 0 ? Nd4j.scalar(values[0]) : Nd4j.create(values, dims, 'c');
        }
    }

    private void readBytes(Stored s, float[] values) {
        ByteBuffer bytes = mapped.duplicate();
        bytes.position(s.offset()).limit(s.offset() + s.length());
        bytes = bytes.slice().order(ByteOrder.LITTLE_ENDIAN);
        switch (s.bytesType()) {
            case FLOAT -> {
                FloatBuffer f = bytes.asFloatBuffer();
                f.get(values);
            }
            case DOUBLE -> {
                DoubleBuffer d = bytes.asDoubleBuffer();
                for (int i = 0; i < values.length; i++) {
                    values[i] = (float) d.get(i);
                }
            }
            case FLOAT16 -> {
                ShortBuffer h = bytes.asShortBuffer();
                for (int i = 0; i < values.length; i++) {
                    values[i] = SafetensorsDType.halfToFloat(h.get(i));
                }
            }
            case BFLOAT16 -> {
                ShortBuffer h = bytes.asShortBuffer();
                for (int i = 0; i < values.length; i++) {
                    values[i] = SafetensorsDType.bfloat16ToFloat(h.get(i));
                }
            }
            default -> throw new IllegalStateException("no byte layout for " + s.bytesType());
        }
    }

    private Stored stored(String name) {
        Stored s = initializers.get(name);
        if (s == null) {
            List<String> some = initializers.keySet().stream().limit(MAX_NAMES_IN_MESSAGE).toList();
            throw new IllegalArgumentException(file + " has no initializer '" + name + "'; its " + initializers.size() + " initializers include "
                    + some + (initializers.size() > MAX_NAMES_IN_MESSAGE ? " ..." : ""));
        }
        return s;
    }

    /** Releases the mapping for reading; later reads fail. (The memory is unmapped when the buffer is collected.) */
    @Override
    public void close() {
        closed = true;
    }

    @Override
    public String toString() {
        return "OnnxWeights[" + file + ", " + initializers.size() + " initializers, " + nodes.size() + " nodes]";
    }

    // ---------------------------------------------------------------- parsing

    /** What the parse collects. */
    private static final class Parsed {
        long irVersion;
        String producer = "";
        String graphName = "";
        boolean sawGraph;
        final Map<String, Stored> initializers = new LinkedHashMap<>();
        final List<Node> nodes = new ArrayList<>();
        final List<String> inputs = new ArrayList<>();
        final List<String> outputs = new ArrayList<>();
    }

    private static void parseModel(CodedInputStream in, Path file, Parsed out) throws IOException {
        String producerName = "";
        String producerVersion = "";
        for (int tag = in.readTag(); tag != 0; tag = in.readTag()) {
            switch (WireFormat.getTagFieldNumber(tag)) {
                case MODEL_IR_VERSION -> out.irVersion = readVarint(in, tag, file, "ModelProto.ir_version");
                case MODEL_PRODUCER_NAME -> producerName = readString(in, tag, file, "ModelProto.producer_name");
                case MODEL_PRODUCER_VERSION -> producerVersion = readString(in, tag, file, "ModelProto.producer_version");
                case MODEL_GRAPH -> {
                    if (out.sawGraph) {
                        throw new OnnxFormatException(file, "ModelProto has two graphs (field 7); an ONNX model has one");
                    }
                    out.sawGraph = true;
                    int limit = enter(in, tag, file, "ModelProto.graph");
                    parseGraph(in, file, out);
                    in.popLimit(limit);
                }
                default -> skip(in, tag, file);
            }
        }
        out.producer = (producerName + " " + producerVersion).trim();
    }

    private static void parseGraph(CodedInputStream in, Path file, Parsed out) throws IOException {
        for (int tag = in.readTag(); tag != 0; tag = in.readTag()) {
            switch (WireFormat.getTagFieldNumber(tag)) {
                case GRAPH_NODE -> {
                    if (out.nodes.size() == MAX_NODES) {
                        throw new OnnxFormatException(file, "graph has more than " + MAX_NODES + " nodes");
                    }
                    int limit = enter(in, tag, file, "GraphProto.node");
                    out.nodes.add(parseNode(in, file));
                    in.popLimit(limit);
                }
                case GRAPH_NAME -> out.graphName = readString(in, tag, file, "GraphProto.name");
                case GRAPH_INITIALIZER -> {
                    if (out.initializers.size() == MAX_INITIALIZERS) {
                        throw new OnnxFormatException(file, "graph has more than " + MAX_INITIALIZERS + " initializers");
                    }
                    int limit = enter(in, tag, file, "GraphProto.initializer");
                    Stored s = parseTensor(in, file, out.initializers.size());
                    in.popLimit(limit);
                    if (out.initializers.put(s.info().name(), s) != null) {
                        throw new OnnxFormatException(file, "two initializers are named '" + s.info().name() + "'; names must be unique");
                    }
                }
                case GRAPH_INPUT, GRAPH_OUTPUT -> {
                    boolean input = WireFormat.getTagFieldNumber(tag) == GRAPH_INPUT;
                    if ((input ? out.inputs : out.outputs).size() == MAX_NODE_ARGUMENTS) {
                        throw new OnnxFormatException(file, "graph has more than " + MAX_NODE_ARGUMENTS + (input ? " inputs" : " outputs"));
                    }
                    int limit = enter(in, tag, file, input ? "GraphProto.input" : "GraphProto.output");
                    String name = parseValueInfoName(in, file);
                    in.popLimit(limit);
                    (input ? out.inputs : out.outputs).add(name);
                }
                default -> skip(in, tag, file);
            }
        }
    }

    private static Node parseNode(CodedInputStream in, Path file) throws IOException {
        List<String> inputs = new ArrayList<>();
        List<String> outputs = new ArrayList<>();
        String name = "";
        String opType = "";
        for (int tag = in.readTag(); tag != 0; tag = in.readTag()) {
            if (inputs.size() + outputs.size() > MAX_NODE_ARGUMENTS) {
                throw new OnnxFormatException(file, "node '" + name + "' has more than " + MAX_NODE_ARGUMENTS + " inputs and outputs");
            }
            switch (WireFormat.getTagFieldNumber(tag)) {
                case NODE_INPUT -> inputs.add(readString(in, tag, file, "NodeProto.input"));
                case NODE_OUTPUT -> outputs.add(readString(in, tag, file, "NodeProto.output"));
                case NODE_NAME -> name = readString(in, tag, file, "NodeProto.name");
                case NODE_OP_TYPE -> opType = readString(in, tag, file, "NodeProto.op_type");
                default -> skip(in, tag, file);
            }
        }
        return new Node(name, opType, inputs, outputs);
    }

    private static String parseValueInfoName(CodedInputStream in, Path file) throws IOException {
        String name = "";
        for (int tag = in.readTag(); tag != 0; tag = in.readTag()) {
            if (WireFormat.getTagFieldNumber(tag) == VALUE_INFO_NAME) {
                name = readString(in, tag, file, "ValueInfoProto.name");
            } else {
                skip(in, tag, file);
            }
        }
        return name;
    }

    /** Reads one TensorProto up to the current limit and checks that its data matches its dims and type. */
    private static Stored parseTensor(CodedInputStream in, Path file, int index) throws IOException {
        List<Long> dims = new ArrayList<>();
        int dataType = 0;
        String name = null;
        int rawOffset = -1;
        int rawLength = 0;
        int floatOffset = -1;
        int floatLength = 0;
        int doubleOffset = -1;
        int doubleLength = 0;
        double[] unpacked = new double[0];
        int unpackedCount = 0;
        boolean external = false;
        for (int tag = in.readTag(); tag != 0; tag = in.readTag()) {
            int field = WireFormat.getTagFieldNumber(tag);
            int wire = WireFormat.getTagWireType(tag);
            String where = "initializer " + (name != null ? "'" + name + "'" : "#" + index);
            switch (field) {
                case TENSOR_DIMS -> {
                    if (wire == WireFormat.WIRETYPE_LENGTH_DELIMITED) {
                        int limit = enter(in, tag, file, "TensorProto.dims");
                        while (!in.isAtEnd()) {
                            addDim(dims, in.readInt64(), file, where);
                        }
                        in.popLimit(limit);
                    } else {
                        addDim(dims, readVarint(in, tag, file, "TensorProto.dims"), file, where);
                    }
                }
                case TENSOR_DATA_TYPE -> dataType = (int) readVarint(in, tag, file, "TensorProto.data_type");
                case TENSOR_NAME -> name = readString(in, tag, file, "TensorProto.name");
                case TENSOR_RAW_DATA -> {
                    if (rawOffset >= 0) {
                        throw new OnnxFormatException(file, where + " has raw_data twice");
                    }
                    rawLength = lengthOf(in, tag, file, "TensorProto.raw_data");
                    rawOffset = in.getTotalBytesRead();
                    in.skipRawBytes(rawLength);
                }
                case TENSOR_FLOAT_DATA -> {
                    if (wire == WireFormat.WIRETYPE_LENGTH_DELIMITED) {
                        if (floatOffset >= 0) {
                            throw new OnnxFormatException(file, where + " has float_data in several packed records, which is not supported");
                        }
                        floatLength = lengthOf(in, tag, file, "TensorProto.float_data");
                        floatOffset = in.getTotalBytesRead();
                        in.skipRawBytes(floatLength);
                    } else if (wire == WireFormat.WIRETYPE_FIXED32) {
                        unpacked = room(unpacked, unpackedCount, file, where);
                        unpacked[unpackedCount++] = in.readFloat();
                    } else {
                        throw wrongWire(file, "TensorProto.float_data", wire);
                    }
                }
                case TENSOR_DOUBLE_DATA -> {
                    if (wire == WireFormat.WIRETYPE_LENGTH_DELIMITED) {
                        if (doubleOffset >= 0) {
                            throw new OnnxFormatException(file, where + " has double_data in several packed records, which is not supported");
                        }
                        doubleLength = lengthOf(in, tag, file, "TensorProto.double_data");
                        doubleOffset = in.getTotalBytesRead();
                        in.skipRawBytes(doubleLength);
                    } else if (wire == WireFormat.WIRETYPE_FIXED64) {
                        unpacked = room(unpacked, unpackedCount, file, where);
                        unpacked[unpackedCount++] = in.readDouble();
                    } else {
                        throw wrongWire(file, "TensorProto.double_data", wire);
                    }
                }
                case TENSOR_DATA_LOCATION -> external = readVarint(in, tag, file, "TensorProto.data_location") == DATA_LOCATION_EXTERNAL;
                default -> skip(in, tag, file);
            }
        }
        if (name == null || name.isEmpty()) {
            throw new OnnxFormatException(file, "initializer #" + index + " has no name; every initializer must be named");
        }
        long[] shape = dims.stream().mapToLong(Long::longValue).toArray();
        OnnxDataType type = OnnxDataType.of(dataType);
        Initializer info = new Initializer(name, type, dataType, shape);
        if (!type.isFloatingPoint()) {
            return new Stored(info, Storage.NONE, type, 0, 0, null);
        }
        String where = "initializer '" + name + "' (" + type + " " + Arrays.toString(shape) + ")";
        if (external) {
            throw new OnnxFormatException(file, where + " keeps its data in an external file; only self-contained ONNX files are supported");
        }
        long numel;
        try {
            numel = 1;
            for (long d : shape) {
                numel = Math.multiplyExact(numel, d);
            }
        } catch (ArithmeticException e) {
            throw new OnnxFormatException(file, where + " has more elements than a long can count");
        }
        if (numel > Integer.MAX_VALUE - 8) {
            throw new OnnxFormatException(file, where + " has " + numel + " elements; at most " + (Integer.MAX_VALUE - 8) + " are supported");
        }
        if (rawOffset >= 0) {
            expectBytes(file, where, "raw_data", rawLength, numel, type.byteSize());
            return new Stored(info, Storage.BYTES, type, rawOffset, rawLength, null);
        }
        if (type == OnnxDataType.FLOAT && floatOffset >= 0) {
            expectBytes(file, where, "float_data", floatLength, numel, 4);
            return new Stored(info, Storage.BYTES, OnnxDataType.FLOAT, floatOffset, floatLength, null);
        }
        if (type == OnnxDataType.DOUBLE && doubleOffset >= 0) {
            expectBytes(file, where, "double_data", doubleLength, numel, 8);
            return new Stored(info, Storage.BYTES, OnnxDataType.DOUBLE, doubleOffset, doubleLength, null);
        }
        if ((type == OnnxDataType.FLOAT || type == OnnxDataType.DOUBLE) && unpackedCount > 0) {
            if (unpackedCount != numel) {
                throw new OnnxFormatException(file, where + " needs " + numel + " values but has " + unpackedCount);
            }
            return new Stored(info, Storage.VALUES, type, 0, 0, Arrays.copyOf(unpacked, unpackedCount));
        }
        if (numel == 0) {
            return new Stored(info, Storage.NONE, type, 0, 0, null);
        }
        throw new OnnxFormatException(file, where + " has no data peft4j can read; supported: raw_data for FLOAT, FLOAT16, BFLOAT16 and"
                + " DOUBLE, float_data for FLOAT, double_data for DOUBLE");
    }

    /** {@code values} with room for one more at {@code count}, grown by doubling up to {@link #MAX_UNPACKED_VALUES}. */
    private static double[] room(double[] values, int count, Path file, String where) {
        if (count < values.length) {
            return values;
        }
        if (count == MAX_UNPACKED_VALUES) {
            throw new OnnxFormatException(file, where + " has more than " + MAX_UNPACKED_VALUES
                    + " unpacked float_data/double_data values; large tensors must be stored packed or in raw_data");
        }
        return Arrays.copyOf(values, Math.min(MAX_UNPACKED_VALUES, Math.max(16, 2 * values.length)));
    }

    private static void addDim(List<Long> dims, long d, Path file, String where) {
        if (d < 0) {
            throw new OnnxFormatException(file, where + " has a negative dim " + d);
        }
        if (dims.size() == MAX_RANK) {
            throw new OnnxFormatException(file, where + " has more than " + MAX_RANK + " dims");
        }
        dims.add(d);
    }

    private static void expectBytes(Path file, String where, String field, int length, long numel, int elementSize) {
        if (length != numel * elementSize) {
            throw new OnnxFormatException(file, where + " needs " + numel * elementSize + " bytes of " + field + " (" + numel + " elements of "
                    + elementSize + " bytes) but has " + length);
        }
    }

    /** Enters a length-delimited message field: returns the old limit for {@code popLimit}. */
    private static int enter(CodedInputStream in, int tag, Path file, String field) throws IOException {
        return in.pushLimit(lengthOf(in, tag, file, field));
    }

    private static int lengthOf(CodedInputStream in, int tag, Path file, String field) throws IOException {
        int wire = WireFormat.getTagWireType(tag);
        if (wire != WireFormat.WIRETYPE_LENGTH_DELIMITED) {
            throw wrongWire(file, field, wire);
        }
        int length = in.readRawVarint32();
        if (length < 0 || length > in.getBytesUntilLimit()) {
            throw new OnnxFormatException(file, field + " claims " + (length & 0xFFFFFFFFL) + " bytes but only " + in.getBytesUntilLimit()
                    + " remain: the file is truncated or corrupt");
        }
        return length;
    }

    private static String readString(CodedInputStream in, int tag, Path file, String field) throws IOException {
        int wire = WireFormat.getTagWireType(tag);
        if (wire != WireFormat.WIRETYPE_LENGTH_DELIMITED) {
            throw wrongWire(file, field, wire);
        }
        return in.readStringRequireUtf8();
    }

    private static long readVarint(CodedInputStream in, int tag, Path file, String field) throws IOException {
        int wire = WireFormat.getTagWireType(tag);
        if (wire != WireFormat.WIRETYPE_VARINT) {
            throw wrongWire(file, field, wire);
        }
        return in.readInt64();
    }

    /** Skips an unknown field; groups (wire types 3 and 4, unused by ONNX) are rejected rather than recursed into. */
    private static void skip(CodedInputStream in, int tag, Path file) throws IOException {
        int wire = WireFormat.getTagWireType(tag);
        switch (wire) {
            case WireFormat.WIRETYPE_VARINT -> in.readRawVarint64();
            case WireFormat.WIRETYPE_FIXED64 -> in.skipRawBytes(8);
            case WireFormat.WIRETYPE_LENGTH_DELIMITED -> in.skipRawBytes(lengthOf(in, tag, file, "field " + WireFormat.getTagFieldNumber(tag)));
            case WireFormat.WIRETYPE_FIXED32 -> in.skipRawBytes(4);
            default -> throw new OnnxFormatException(file, "field " + WireFormat.getTagFieldNumber(tag) + " has wire type " + wire
                    + " (a protobuf group), which ONNX does not use; the file is corrupt or not an ONNX model");
        }
    }

    private static OnnxFormatException wrongWire(Path file, String field, int wire) {
        return new OnnxFormatException(file, field + " has protobuf wire type " + wire + ", which does not match its declared type;"
                + " the file is corrupt or not an ONNX model");
    }
}
