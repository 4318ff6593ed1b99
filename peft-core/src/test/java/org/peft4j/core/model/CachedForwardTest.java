package org.peft4j.core.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.kernel.KernelChoice;
import org.peft4j.core.model.gpt2.Gpt2Model;
import org.peft4j.core.model.llama.LlamaModel;
import org.peft4j.core.nn.KeyValueCache;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.testing.TinyDecoders;
import org.peft4j.core.testing.TinyModels;

/** A model's forward with a key/value cache: padding masks and learned prefixes combine with cached positions. */
class CachedForwardTest {

    private static CausalLm model(String type, DataType dataType) {
        return type.equals("gpt2")
                ? Gpt2Model.random(TinyDecoders.tinyGpt2(), 31, dataType, KernelChoice.PORTABLE)
                : LlamaModel.random(TinyDecoders.tinyLlama().initializerRange(0.5).build(), 31, dataType, KernelChoice.PORTABLE);
    }

    private static INDArray forward(CausalLm model, TokenBatch batch, KeyValueCache cache) {
        try (Tape tape = Tape.inference(model.kernels())) {
            return model.forward(batch, cache, tape);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"gpt2", "llama"})
    void paddedPromptsKeepTheirMaskInTheCache(String type) {
        CausalLm model = model(type, DataType.DOUBLE);
        // two sequences of 5: the second starts with a padding position
        int[] ids = {3, 5, 7, 9, 11, 0, 6, 8, 10, 12};
        int[] mask = {1, 1, 1, 1, 1, 0, 1, 1, 1, 1};
        INDArray full = forward(model, new TokenBatch(2, 5, ids, mask, null), null);                       // [10, vocab]
        try (KeyValueCache cache = new KeyValueCache()) {
            INDArray prefill = forward(model, new TokenBatch(2, 3, new int[] {3, 5, 7, 0, 6, 8}, new int[] {1, 1, 1, 0, 1, 1}, null), cache);
            INDArray step4 = forward(model, new TokenBatch(2, 1, new int[] {9, 10}, null, null), cache);
            INDArray step5 = forward(model, new TokenBatch(2, 1, new int[] {11, 12}, null, null), cache);
            assertEquals(5, cache.length());
            for (int b = 0; b < 2; b++) {
                for (int t = b == 0 ? 0 : 1; t < 3; t++) {   // the padding position's own row is meaningless
                    assertTrue(full.getRow(b * 5 + t).equalsWithEps(prefill.getRow(b * 3 + t), 1e-10), type + " prefill " + b + "," + t);
                }
                assertTrue(full.getRow(b * 5 + 3).equalsWithEps(step4.getRow(b), 1e-10), type + " step 4 of sequence " + b);
                assertTrue(full.getRow(b * 5 + 4).equalsWithEps(step5.getRow(b), 1e-10), type + " step 5 of sequence " + b);
            }
        }
    }

    @Test
    void aLearnedPrefixPrecedesTheCachedPositions() {
        Gpt2Model model = Gpt2Model.random(TinyModels.tinyGpt2(), 33, DataType.DOUBLE, KernelChoice.PORTABLE);
        model.addInputHook("prefix", new InputHookTest.PastPrefix(2, 2, 3, 4, new SplittableRandom(34)));
        int[] tokens = {2, 4, 6, 8, 10};
        INDArray full = forward(model, new TokenBatch(1, 5, tokens, null, null), null);
        try (KeyValueCache cache = new KeyValueCache()) {
            INDArray prefill = forward(model, new TokenBatch(1, 3, new int[] {2, 4, 6}, null, null), cache);
            assertTrue(full.getRows(0, 1, 2).equalsWithEps(prefill, 1e-10));
            for (int t = 3; t < 5; t++) {
                INDArray step = forward(model, new TokenBatch(1, 1, new int[] {tokens[t]}, null, null), cache);
                assertTrue(full.getRow(t).equalsWithEps(step.getRow(0), 1e-10), "position " + t);
            }
        }
    }

    @Test
    void aCacheNeedsATapeThatDoesNotRecord() {
        CausalLm model = model("llama", DataType.DOUBLE);
        try (KeyValueCache cache = new KeyValueCache(); Tape tape = Tape.recordingWithoutDropout(model.kernels())) {
            new org.peft4j.core.param.ParamRegistry(model.module()).unfreezeAll();
            IllegalStateException e = assertThrows(IllegalStateException.class,
                    () -> model.forward(new TokenBatch(1, 2, new int[] {1, 2}, null, null), cache, tape));
            assertTrue(e.getMessage().contains("inference only"), e.getMessage());
            assertEquals(0, cache.length(), "a failed pass leaves the cache as it was");
        }
    }
}
