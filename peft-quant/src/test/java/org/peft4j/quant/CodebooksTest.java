package org.peft4j.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The code books against bitsandbytes' published values and its quantizers' decision rules. */
class CodebooksTest {
    /** bitsandbytes' NF4 values as its CUDA kernels and Python code list them (float32). */
    private static final float[] PUBLISHED_NF4 = {
        -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f, -0.28444138169288635f, -0.18477343022823334f,
        -0.09105003625154495f, 0.0f, 0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
        0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f};

    @Test
    void nf4IsBitsandbytesCodeBookBitForBit() {
        float[] nf4 = Codebooks.nf4();
        for (int i = 0; i < 16; i++) {
            assertEquals(Float.floatToIntBits(PUBLISHED_NF4[i]), Float.floatToIntBits(nf4[i]), "NF4 value " + i + ": " + nf4[i]);
        }
    }

    @Test
    void linspaceIsTorchFloat32() {
        // torch.linspace(0.9677083, 0.5, 9).tolist() in float32
        float[] expected = {0.9677082896232605f, 0.9092447757720947f, 0.8507812023162842f, 0.7923176884651184f, 0.7338541746139526f,
            0.6753906011581421f, 0.6169270873069763f, 0.5584635138511658f, 0.5f};
        assertArrayEquals(expected, Codebooks.linspace(Codebooks.NF4_OFFSET, 0.5f, 9));
    }

    @Test
    void nf4CodesFollowBitsandbytesDecisionTree() {
        // thresholds of bitsandbytes' dQuantizeNF4: a value above a threshold takes the upper code, on it the lower
        float[] thresholds = {-0.8480964004993439f, -0.6106329262256622f, -0.4599952697753906f, -0.33967943489551544f, -0.23460740596055984f,
            -0.13791173323988914f, -0.045525018125772476f, 0.03979014977812767f, 0.1202552504837513f, 0.2035212516784668f,
            0.2920137718319893f, 0.3893125355243683f, 0.5016634166240692f, 0.6427869200706482f, 0.8614784181118011f};
        for (int i = 0; i < thresholds.length; i++) {
            assertEquals(i, Codebooks.code4(QuantType.NF4, thresholds[i]), "on threshold " + i);
            assertEquals(i + 1, Codebooks.code4(QuantType.NF4, Math.nextUp(thresholds[i])), "above threshold " + i);
        }
        assertEquals(0, Codebooks.code4(QuantType.NF4, -1f));
        assertEquals(15, Codebooks.code4(QuantType.NF4, 1f));
        assertEquals(7, Codebooks.code4(QuantType.NF4, 0f));
    }

    @Test
    void fp4CodesRoundTripAndCarryTheSignBit() {
        float[] fp4 = Codebooks.fp4();
        for (int code = 0; code < 16; code++) {
            if (code == 8) {
                continue;                                                  // −0 quantizes to +0 (code 0), as in bitsandbytes
            }
            assertEquals(code, Codebooks.code4(QuantType.FP4, fp4[code]), "FP4 value " + fp4[code]);
        }
        assertEquals(0b0011, Codebooks.code4(QuantType.FP4, 0.9f));
        assertEquals(0b1011, Codebooks.code4(QuantType.FP4, -0.9f));
        assertEquals(0b0101, Codebooks.code4(QuantType.FP4, 0.45f));      // nearest of 1/2 and 1/3
        assertEquals(0b0100, Codebooks.code4(QuantType.FP4, 0.40f));
    }

    @Test
    void dynamicMapIsSignedSortedAndCodesRoundTrip() {
        float[] d = Codebooks.dynamic8();
        assertEquals(256, d.length);
        for (int i = 1; i < 256; i++) {
            assertTrue(d[i] >= d[i - 1]);
        }
        assertEquals(1.0f, d[255]);
        assertEquals(-0.992968738079071f, d[0]);                            // −(midpoint of the last two of linspace(0.1, 1, 65)) times 10⁰ (torch)
        assertEquals(0f, d[127]);
        assertEquals(5.500000384017767e-07f, d[128]);                      // 10⁻⁶ times the midpoint of linspace(0.1, 1, 2) (torch)
        for (int i = 0; i < 256; i++) {
            assertEquals(d[i], d[Codebooks.code8(d[i])], "dynamic value " + i + " = " + d[i]);
        }
        // a value between two neighbours goes to the nearer one
        assertEquals(d[200], d[Codebooks.code8(d[200] + 0.3f * (d[201] - d[200]))]);
        assertEquals(d[201], d[Codebooks.code8(d[200] + 0.7f * (d[201] - d[200]))]);
    }
}
