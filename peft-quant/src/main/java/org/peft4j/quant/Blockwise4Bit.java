package org.peft4j.quant;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.ByteBuffer;
import java.nio.FloatBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * A weight in NF4 or FP4 with bitsandbytes' semantics ({@code bnb.functional.quantize_4bit}).
 *
 * <p>The {@code rows·columns} values are taken in row-major order (a Linear's {@code [out, in]}, HF's storage
 * order) and cut into blocks of {@code blockSize} consecutive values (the last block may be short). Each block
 * keeps its absmax a (float32); a value x gets the 4-bit code of x·(1/a) (see {@link Codebooks#code4}) and is
 * read back as {@code table[code]·a} in float32. Codes are packed two per byte in element order, <b>the first of
 * each pair in the high nibble</b>: byte j = code(2j) « 4 | code(2j + 1), as bitsandbytes packs them (an odd
 * count leaves the last low nibble 0).
 *
 * <p>Double quantization ({@code compress_statistics}): the block absmaxes, minus their mean m, are quantized
 * again block-wise with the signed dynamic 8-bit map ({@link Codebooks#dynamic8()}) in blocks of 256, keeping one
 * float32 absmax per 256 block; a block's absmax is read back as {@code dyn[q]·a₂ + m}. This costs 8 bits per
 * block plus 32 bits per 256 blocks instead of 32 bits per block: 4.127 bits per value in all at block 64.
 */
public final class Blockwise4Bit implements QuantizedWeight {
    /** The block size of double quantization, as bitsandbytes uses it. */
    public static final int NESTED_BLOCK_SIZE = 256;
    /** The smallest and largest block size accepted (bitsandbytes' range). */
    public static final int MIN_BLOCK_SIZE = 32;
    public static final int MAX_BLOCK_SIZE = 4096;

    private static final ObjectMapper JSON = new ObjectMapper();

    private final QuantType type;
    private final int rows;
    private final int columns;
    private final int blockSize;
    private final INDArray packed;          // UINT8 [ceil(n/2), 1]
    private final INDArray absmax;          // FLOAT [blocks], or UINT8 [blocks] with double quantization
    private final INDArray nestedAbsmax;    // FLOAT [ceil(blocks/256)] or null
    private final float nestedOffset;
    private final INDArray quantMap;        // FLOAT [16]
    private final INDArray nestedQuantMap;  // FLOAT [256] or null
    private final float[] table;
    private final float[] nestedTable;      // the 8-bit map of the absmaxes, or null

    private Blockwise4Bit(QuantType type, int rows, int columns, int blockSize, INDArray packed, INDArray absmax, INDArray nestedAbsmax,
            float nestedOffset, float[] nestedTable) {
        this.type = type;
        this.rows = rows;
        this.columns = columns;
        this.blockSize = blockSize;
        this.packed = packed;
        this.absmax = absmax;
        this.nestedAbsmax = nestedAbsmax;
        this.nestedOffset = nestedOffset;
        this.table = Codebooks.table(type);
        this.quantMap = HostBuffers.floats(table, table.length);
        this.nestedTable = nestedAbsmax == null ? null : nestedTable;
        this.nestedQuantMap = nestedAbsmax == null ? null : HostBuffers.floats(nestedTable, 256);
    }

    /** Checks a block size: a multiple of 2 (two codes per byte) in [32, 4096]. */
    static void checkBlockSize(int blockSize) {
        if (blockSize < MIN_BLOCK_SIZE || blockSize > MAX_BLOCK_SIZE || blockSize % 2 != 0) {
            throw new IllegalArgumentException("block size must be an even number in [" + MIN_BLOCK_SIZE + ", " + MAX_BLOCK_SIZE
                    + "] (bitsandbytes uses 32, 64, 128, ..., 4096), got " + blockSize);
        }
    }

    /** Quantizes {@code w} {@code [rows, columns]} (any float type; read in row-major order). */
    public static Blockwise4Bit quantize(INDArray w, QuantType type, int blockSize, boolean doubleQuant) {
        if (w.rank() != 2) {
            throw new IllegalArgumentException("a quantized weight must be a matrix [rows, columns], got shape " + Arrays.toString(w.shape()));
        }
        return quantize(HostBuffers.rowMajor(w), (int) w.rows(), (int) w.columns(), type, blockSize, doubleQuant);
    }

    /** Quantizes the row-major values of a {@code [rows, columns]} matrix. */
    public static Blockwise4Bit quantize(float[] values, int rows, int columns, QuantType type, int blockSize, boolean doubleQuant) {
        if (!type.fourBit()) {
            throw new IllegalArgumentException(type + " is not a 4-bit format; Blockwise4Bit takes NF4 or FP4");
        }
        checkBlockSize(blockSize);
        long n = (long) rows * columns;
        if (rows <= 0 || columns <= 0 || values.length != n) {
            throw new IllegalArgumentException("need rows·columns = " + n + " > 0 values, got " + values.length + " for [" + rows + ", " + columns + "]");
        }
        int blocks = (int) ((n + blockSize - 1) / blockSize);
        float[] am = new float[blocks];
        byte[] bytes = new byte[(int) ((n + 1) / 2)];
        HostBuffers.split(blocks, n, (b0, b1) -> {
            for (int b = b0; b < b1; b++) {
                int from = b * blockSize;
                int to = (int) Math.min(n, (long) from + blockSize);
                float max = 0f;
                for (int i = from; i < to; i++) {
                    max = Math.max(max, Math.abs(values[i]));
                }
                am[b] = max;
                float inv = 1.0f / max;                                  // bitsandbytes multiplies by the reciprocal
                for (int i = from; i < to; i += 2) {
                    int hi = Codebooks.code4(type, values[i] * inv);
                    int lo = i + 1 < to ? Codebooks.code4(type, values[i + 1] * inv) : 0;
                    bytes[i >> 1] = (byte) (hi << 4 | lo);
                }
            }
        });
        INDArray packed = HostBuffers.bytes(bytes, DataType.UINT8, bytes.length, 1);
        if (!doubleQuant) {
            return new Blockwise4Bit(type, rows, columns, blockSize, packed, HostBuffers.floats(am, blocks), null, 0f, null);
        }
        double sum = 0;
        for (float a : am) {
            sum += a;
        }
        float offset = (float) (sum / blocks);
        float[] centered = new float[blocks];
        for (int b = 0; b < blocks; b++) {
            centered[b] = am[b] - offset;
        }
        int nested = (blocks + NESTED_BLOCK_SIZE - 1) / NESTED_BLOCK_SIZE;
        float[] am2 = new float[nested];
        byte[] q = new byte[blocks];
        for (int b2 = 0; b2 < nested; b2++) {
            int from = b2 * NESTED_BLOCK_SIZE;
            int to = Math.min(blocks, from + NESTED_BLOCK_SIZE);
            float max = 0f;
            for (int i = from; i < to; i++) {
                max = Math.max(max, Math.abs(centered[i]));
            }
            am2[b2] = max;
            float inv = 1.0f / max;
            for (int i = from; i < to; i++) {
                q[i] = (byte) Codebooks.code8(centered[i] * inv);
            }
        }
        return new Blockwise4Bit(type, rows, columns, blockSize, packed, HostBuffers.bytes(q, DataType.UINT8, blocks),
                HostBuffers.floats(am2, nested), offset, Codebooks.dynamicTable());
    }

    @Override
    public QuantType type() {
        return type;
    }

    @Override
    public int rows() {
        return rows;
    }

    @Override
    public int columns() {
        return columns;
    }

    public int blockSize() {
        return blockSize;
    }

    public boolean doubleQuant() {
        return nestedAbsmax != null;
    }

    /** The packed codes, UINT8 {@code [ceil(n/2), 1]} (a view of this weight's storage; do not change it). */
    public INDArray packed() {
        return packed;
    }

    /** The absmax of every block in float32, read back through double quantization if it is on. */
    public float[] blockAbsmax() {
        return absmaxOf(0, blocks());
    }

    private int blocks() {
        return (int) (((long) rows * columns + blockSize - 1) / blockSize);
    }

    /** The float32 absmax of blocks [from, to). */
    private float[] absmaxOf(int from, int to) {
        float[] out = new float[to - from];
        if (nestedAbsmax == null) {
            FloatBuffer a = HostBuffers.floatView(absmax);
            a.get(from, out, 0, out.length);
            return out;
        }
        ByteBuffer q = HostBuffers.byteView(absmax);
        FloatBuffer a2 = HostBuffers.floatView(nestedAbsmax);
        float[] dyn = nestedTable;
        for (int b = from; b < to; b++) {
            out[b - from] = dyn[q.get(b) & 0xFF] * a2.get(b / NESTED_BLOCK_SIZE) + nestedOffset;
        }
        return out;
    }

    @Override
    public void dequantize(int rowFrom, int rowTo, float[] dst) {
        checkRows(rowFrom, rowTo);
        long e0 = (long) rowFrom * columns;
        long e1 = (long) rowTo * columns;
        int b0 = (int) (e0 / blockSize);
        int b1 = (int) ((e1 + blockSize - 1) / blockSize);
        float[] am = absmaxOf(b0, b1);
        ByteBuffer bytes = HostBuffers.byteView(packed);
        float[] t = table;
        HostBuffers.split(b1 - b0, e1 - e0, (p0, p1) -> {
            for (int b = b0 + p0; b < b0 + p1; b++) {
                float a = am[b - b0];
                long from = Math.max(e0, (long) b * blockSize);
                long to = Math.min(e1, (long) (b + 1) * blockSize);
                for (long i = from; i < to; i++) {
                    int v = bytes.get((int) (i >> 1));
                    int code = (i & 1) == 0 ? (v >> 4) & 0x0F : v & 0x0F;
                    dst[(int) (i - e0)] = t[code] * a;
                }
            }
        });
    }

    @Override
    public INDArray dequantizeNd4j(int rowFrom, int rowTo) {
        checkRows(rowFrom, rowTo);
        long e0 = (long) rowFrom * columns;
        long e1 = (long) rowTo * columns;
        if (e0 % blockSize != 0) {
            throw new IllegalArgumentException("row " + rowFrom + " does not start a block; start at a multiple of " + rowAlignment());
        }
        long b0 = e0 / blockSize;
        long b1 = (e1 + blockSize - 1) / blockSize;
        long bytes0 = e0 / 2;
        long bytes1 = Math.min(packed.length(), b1 * blockSize / 2);
        INDArray p = packed.reshape(packed.length()).get(NDArrayIndex.interval(bytes0, bytes1)).castTo(DataType.INT32);   // [m]
        INDArray hi = p.div(16);                                                          // integer division: the high nibble
        INDArray lo = p.sub(hi.mul(16));
        INDArray codes = Nd4j.concat(1, hi.reshape(hi.length(), 1), lo.reshape(lo.length(), 1)).reshape((bytes1 - bytes0) * 2);   // element order
        long padded = (b1 - b0) * blockSize;
        if (codes.length() < padded) {                                                    // a short last block
            codes = Nd4j.concat(0, codes, Nd4j.zeros(DataType.INT32, padded - codes.length()));
        }
        INDArray values = HostBuffers.gather(quantMap, codes).reshape(b1 - b0, blockSize);   // [blocks, blockSize]
        values.muliColumnVector(absmaxNd4j(b0, b1).reshape(b1 - b0, 1));
        INDArray flat = values.reshape(padded);
        INDArray out = (padded == e1 - e0 ? flat : flat.get(NDArrayIndex.interval(0, e1 - e0)).dup()).reshape(rowTo - rowFrom, columns);
        return out;
    }

    /** The float32 absmax of blocks [b0, b1) with ND4J ops. */
    private INDArray absmaxNd4j(long b0, long b1) {
        if (nestedAbsmax == null) {
            return absmax.get(NDArrayIndex.interval(b0, b1));
        }
        long n2 = nestedAbsmax.length();
        INDArray q = absmax.castTo(DataType.INT32);
        long padded = n2 * NESTED_BLOCK_SIZE;
        if (q.length() < padded) {
            q = Nd4j.concat(0, q, Nd4j.zeros(DataType.INT32, padded - q.length()));
        }
        INDArray a = HostBuffers.gather(nestedQuantMap, q).reshape(n2, NESTED_BLOCK_SIZE);
        a.muliColumnVector(nestedAbsmax.reshape(n2, 1)).addi(nestedOffset);
        return a.reshape(padded).get(NDArrayIndex.interval(b0, b1));
    }

    private void checkRows(int rowFrom, int rowTo) {
        if (rowFrom < 0 || rowTo > rows || rowFrom >= rowTo) {
            throw new IllegalArgumentException("rows [" + rowFrom + ", " + rowTo + ") are not a non-empty range of [0, " + rows + ")");
        }
    }

    @Override
    public int rowAlignment() {
        return blockSize / gcd(blockSize, columns);
    }

    private static int gcd(int a, int b) {
        return b == 0 ? a : gcd(b, a % b);
    }

    @Override
    public long storedBytes() {
        long bytes = packed.length() + absmax.length() * absmax.dataType().width();
        if (nestedAbsmax != null) {
            bytes += nestedAbsmax.length() * 4L + 4;
        }
        return bytes;
    }

    @Override
    public Map<String, INDArray> tensors() {
        Map<String, INDArray> out = new LinkedHashMap<>();
        out.put("weight", packed);
        out.put("weight.absmax", absmax);
        out.put("weight.quant_map", quantMap);
        if (nestedAbsmax != null) {
            out.put("weight.nested_absmax", nestedAbsmax);
            out.put("weight.nested_quant_map", nestedQuantMap);
        }
        byte[] json = quantState().toString().getBytes(StandardCharsets.UTF_8);
        out.put("weight.quant_state.bitsandbytes__" + type.bnbName(), HostBuffers.bytes(json, DataType.UINT8, json.length));
        return out;
    }

    /** bitsandbytes' packed quant state: the non-tensor fields of {@code QuantState.as_dict(packed=True)}. */
    private ObjectNode quantState() {
        ObjectNode s = JSON.createObjectNode();
        s.put("quant_type", type.bnbName());
        s.put("blocksize", blockSize);
        s.put("dtype", "float32");
        s.putArray("shape").add(rows).add(columns);
        if (nestedAbsmax != null) {
            s.put("nested_blocksize", NESTED_BLOCK_SIZE);
            s.put("nested_dtype", "float32");
            s.put("nested_offset", nestedOffset);
        }
        return s;
    }

    /**
     * Reads a weight back from bitsandbytes' tensors (as {@link #tensors()} names them, relative to the layer);
     * {@code where} names the layer in error messages.
     */
    public static Blockwise4Bit fromTensors(Map<String, INDArray> tensors, String where) {
        String stateKey = tensors.keySet().stream().filter(k -> k.startsWith("weight.quant_state.bitsandbytes__")).findFirst()
                .orElseThrow(() -> new IllegalArgumentException(where + ": no weight.quant_state.bitsandbytes__nf4 or __fp4 tensor; tensors: "
                        + tensors.keySet()));
        JsonNode state;
        try {
            byte[] raw = new byte[Math.toIntExact(tensors.get(stateKey).length())];
            HostBuffers.byteView(tensors.get(stateKey).castTo(DataType.UINT8).dup()).get(raw);
            state = JSON.readTree(new String(raw, StandardCharsets.UTF_8));
        } catch (java.io.IOException e) {
            throw new IllegalArgumentException(where + ": " + stateKey + " is not bitsandbytes' JSON quant state: " + e.getMessage(), e);
        }
        QuantType type = QuantType.parse(state.path("quant_type").asText());
        int blockSize = state.path("blocksize").asInt();
        checkBlockSize(blockSize);
        JsonNode shape = state.path("shape");
        if (!shape.isArray() || shape.size() != 2) {
            throw new IllegalArgumentException(where + ": the quant state's shape must be [out, in], got " + shape);
        }
        int rows = shape.get(0).asInt();
        int columns = shape.get(1).asInt();
        long n = (long) rows * columns;
        INDArray packed = require(tensors, "weight", where, (n + 1) / 2, DataType.UINT8);
        boolean nested = state.has("nested_offset");
        long blocks = (n + blockSize - 1) / blockSize;
        float[] map = HostBuffers.readFloats(require(tensors, "weight.quant_map", where, 16, DataType.FLOAT));
        if (!Arrays.equals(map, Codebooks.table(type))) {
            throw new IllegalArgumentException(where + ": weight.quant_map is not bitsandbytes' " + type + " code book; peft4j reads only that one");
        }
        if (!nested) {
            return new Blockwise4Bit(type, rows, columns, blockSize, packed.reshape(packed.length(), 1),
                    require(tensors, "weight.absmax", where, blocks, DataType.FLOAT), null, 0f, null);
        }
        if (state.path("nested_blocksize").asInt() != NESTED_BLOCK_SIZE) {
            throw new IllegalArgumentException(where + ": nested_blocksize must be 256, got " + state.path("nested_blocksize"));
        }
        INDArray q = require(tensors, "weight.absmax", where, blocks, DataType.UINT8);
        INDArray a2 = require(tensors, "weight.nested_absmax", where, (blocks + NESTED_BLOCK_SIZE - 1) / NESTED_BLOCK_SIZE, DataType.FLOAT);
        float[] nestedMap = HostBuffers.readFloats(require(tensors, "weight.nested_quant_map", where, 256, DataType.FLOAT));
        return new Blockwise4Bit(type, rows, columns, blockSize, packed.reshape(packed.length(), 1), q, a2,
                (float) state.path("nested_offset").asDouble(), nestedMap);   // the map it was quantized with (torch builds differ in the last bit)
    }

    /** The tensor {@code name} with {@code length} elements, as a whole array of {@code type}. */
    static INDArray require(Map<String, INDArray> tensors, String name, String where, long length, DataType type) {
        INDArray t = tensors.get(name);
        if (t == null) {
            throw new IllegalArgumentException(where + ": missing tensor " + name + "; tensors: " + tensors.keySet());
        }
        if (t.length() != length) {
            throw new IllegalArgumentException(where + ": " + name + " must have " + length + " elements, got " + Arrays.toString(t.shape()));
        }
        if (t.dataType() != type && !(type == DataType.UINT8 && t.dataType() == DataType.INT8)) {
            throw new IllegalArgumentException(where + ": " + name + " must be " + type + ", got " + t.dataType());
        }
        try (var ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            return t.isView() || t.dataType() != type ? bytesAs(t, type) : t;
        }
    }

    private static INDArray bytesAs(INDArray t, DataType type) {
        if (t.dataType().width() == 1 && type.width() == 1) {           // reinterpret INT8 as UINT8 without changing the bits
            byte[] raw = new byte[Math.toIntExact(t.length())];
            HostBuffers.byteView(t.dup()).get(raw);
            return HostBuffers.bytes(raw, type, t.shape());
        }
        return t.dup();
    }

    @Override
    public void close() {
        packed.close();
        absmax.close();
        quantMap.close();
        if (nestedAbsmax != null) {
            nestedAbsmax.close();
            nestedQuantMap.close();
        }
    }

    @Override
    public String toString() {
        return type + "[" + rows + ", " + columns + "] block " + blockSize + (doubleQuant() ? ", double quant" : "");
    }
}
