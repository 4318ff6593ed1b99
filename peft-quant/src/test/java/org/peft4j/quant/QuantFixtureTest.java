package org.peft4j.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Base64;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * peft4j's quantizers against the independent Python reference of bitsandbytes' semantics
 * (docs/scripts/bnb_quant_reference.py, which wrote src/test/resources/quant/bnb_reference.json): the same
 * packed bytes, block constants and dequantized values, bit for bit.
 */
class QuantFixtureTest {
    private static JsonNode fixture() throws IOException {
        try (InputStream in = QuantFixtureTest.class.getResourceAsStream("/quant/bnb_reference.json")) {
            return new ObjectMapper().readTree(in);
        }
    }

    /** The matrix the script quantizes: sin(0.7311·i)·(1 + i mod 7)·0.02 in float32, row-major. */
    static float[] weight(int rows, int cols) {
        float[] w = new float[rows * cols];
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) (Math.sin(0.7311 * i) * (1 + i % 7) * 0.02);
        }
        return w;
    }

    private static byte[] bytes(JsonNode node) {
        return Base64.getDecoder().decode(node.asText());
    }

    private static float[] floats(JsonNode node) {
        ByteBuffer b = ByteBuffer.wrap(bytes(node)).order(ByteOrder.LITTLE_ENDIAN);
        float[] out = new float[b.remaining() / 4];
        b.asFloatBuffer().get(out);
        return out;
    }

    private static byte[] read(INDArray a) {
        byte[] out = new byte[(int) a.length()];
        HostBuffers.byteView(a).get(out);
        return out;
    }

    @Test
    void codeBooksMatch() throws IOException {
        JsonNode f = fixture();
        float[] nf4 = Codebooks.nf4();
        for (int i = 0; i < 16; i++) {
            assertEquals((float) f.get("nf4").get(i).asDouble(), nf4[i]);
        }
        float[] torchMap = floats(f.get("dynamic8_f32"));
        float[] dyn = Codebooks.dynamic8();
        for (int i = 0; i < 256; i++) {                         // torch's vectorised linspace differs from build to build in the last bit
            assertEquals(torchMap[i], dyn[i], 2 * Math.ulp(torchMap[i]), "dynamic map value " + i);
        }
    }

    @Test
    void fourBitCasesMatch() throws IOException {
        int checked = 0;
        for (JsonNode c : fixture().get("cases")) {
            if (c.get("type").asText().equals("int8")) {
                continue;
            }
            int rows = c.get("rows").asInt();
            int cols = c.get("cols").asInt();
            String what = c.toString().substring(0, 80);
            try (Blockwise4Bit q = Blockwise4Bit.quantize(weight(rows, cols), rows, cols, QuantType.parse(c.get("type").asText()),
                    c.get("block").asInt(), c.get("double_quant").asBoolean())) {
                assertArrayEquals(bytes(c.get("packed")), read(q.packed()), what);
                assertArrayEquals(floats(c.get("absmax_f32")), q.blockAbsmax(), what);
                if (q.doubleQuant()) {
                    assertArrayEquals(bytes(c.get("qabsmax")), read(q.tensors().get("weight.absmax")), what);
                    assertArrayEquals(floats(c.get("nested_absmax_f32")), HostBuffers.readFloats(q.tensors().get("weight.nested_absmax")), what);
                } else {
                    float[] deq = new float[rows * cols];
                    q.dequantize(0, rows, deq);
                    assertArrayEquals(floats(c.get("dequant_f32")), deq, what);
                }
                checked++;
            }
        }
        assertEquals(5, checked);
    }

    @Test
    void int8CaseMatches() throws IOException {
        for (JsonNode c : fixture().get("cases")) {
            if (!c.get("type").asText().equals("int8")) {
                continue;
            }
            int rows = c.get("rows").asInt();
            int cols = c.get("cols").asInt();
            try (RowwiseInt8 q = RowwiseInt8.quantize(HostBuffers.floats(weight(rows, cols), rows, cols))) {
                assertArrayEquals(bytes(c.get("weight_i8")), read(q.tensors().get("weight")));
                assertArrayEquals(floats(c.get("scb_f32")), HostBuffers.readFloats(q.tensors().get("SCB")));
                float[] deq = new float[rows * cols];
                q.dequantize(0, rows, deq);
                assertArrayEquals(floats(c.get("dequant_f32")), deq);
            }
        }
    }
}
