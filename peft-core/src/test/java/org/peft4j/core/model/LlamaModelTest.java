package org.peft4j.core.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.peft4j.core.kernel.KernelChoice;
import org.peft4j.core.model.llama.LlamaConfig;
import org.peft4j.core.model.llama.LlamaModel;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.param.ParamRegistry;
import org.peft4j.core.testing.GradientCheck;
import org.peft4j.core.testing.TinyDecoders;
import org.peft4j.core.testing.TinyModels;
import org.peft4j.core.train.Loss;

class LlamaModelTest {

    /** Weights large enough (std 0.5) that attention is far from uniform and rotary positions matter. */
    private static LlamaModel tiny(boolean tied, long seed, DataType type, KernelChoice kernels) {
        LlamaConfig config = TinyDecoders.tinyLlama().tieWordEmbeddings(tied).initializerRange(0.5).build();
        return LlamaModel.random(config, seed, type, kernels);
    }

    private static INDArray logits(CausalLm model, TokenBatch batch) {
        try (Tape tape = Tape.inference(model.kernels())) {
            return model.forward(batch, tape);
        }
    }

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void wholeModelGradientsMatchFiniteDifferences(boolean tied) {
        LlamaModel model = tiny(tied, 3, DataType.DOUBLE, KernelChoice.PORTABLE);
        ParamRegistry registry = new ParamRegistry(model);
        registry.unfreezeAll();
        CausalLmTask task = new CausalLmTask(model);
        TokenBatch batch = TinyModels.paddedBatch();
        Gpt2ModelTest.lossAndGradients(task, batch);
        SplittableRandom rng = new SplittableRandom(4);
        for (ParamRegistry.NamedParam np : registry.all()) {
            GradientCheck.checkParam(np.path(), np.param(), () -> Gpt2ModelTest.loss(task, batch), tied ? 6 : 12, 1e-6, rng);
        }
    }

    @Test
    void inputHooksTrainThroughAFrozenModel() {
        LlamaModel model = tiny(false, 19, DataType.DOUBLE, KernelChoice.PORTABLE);
        SplittableRandom rng = new SplittableRandom(20);
        InputHookTest.PrependVectors prompt = new InputHookTest.PrependVectors(2, 12, rng);
        InputHookTest.PastPrefix prefix = new InputHookTest.PastPrefix(2, 2, 3, 4, rng);   // 2 layers, 2 kv heads of 4, 3 positions
        model.addInputHook("prompt_encoder", prompt);
        model.addInputHook("prefix", prefix);
        CausalLmTask task = new CausalLmTask(model);
        TokenBatch batch = TinyModels.paddedBatch();
        Gpt2ModelTest.lossAndGradients(task, batch);
        GradientCheck.checkParam("prompt", prompt.prompt, () -> Gpt2ModelTest.loss(task, batch), 12, 1e-6, rng);
        GradientCheck.checkParam("keys_1", prefix.keys[1], () -> Gpt2ModelTest.loss(task, batch), 12, 1e-6, rng);
        GradientCheck.checkParam("values_0", prefix.values[0], () -> Gpt2ModelTest.loss(task, batch), 12, 1e-6, rng);
        model.removeInputHook("prefix");
        model.removeInputHook("prompt_encoder");
        assertTrue(new ParamRegistry(model).trainable().isEmpty());
    }

    @Test
    void hfParameterPathsOfOneLayer() {
        LlamaConfig config = LlamaConfig.builder().vocabSize(10).hiddenSize(8).intermediateSize(12).numHiddenLayers(1).numAttentionHeads(2)
                .numKeyValueHeads(1).build();
        LlamaModel model = LlamaModel.random(config, 1, DataType.FLOAT, KernelChoice.AUTO);
        ParamRegistry registry = new ParamRegistry(model);
        assertEquals(List.of("model.embed_tokens.weight",
                "model.layers.0.input_layernorm.weight",
                "model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.k_proj.weight",
                "model.layers.0.self_attn.v_proj.weight", "model.layers.0.self_attn.o_proj.weight",
                "model.layers.0.post_attention_layernorm.weight",
                "model.layers.0.mlp.gate_proj.weight", "model.layers.0.mlp.up_proj.weight", "model.layers.0.mlp.down_proj.weight",
                "model.norm.weight", "lm_head.weight"), registry.paths());
        assertEquals(List.of(4L, 8L), List.of(registry.get("model.layers.0.self_attn.k_proj.weight").shape()[0],
                registry.get("model.layers.0.self_attn.k_proj.weight").shape()[1]), "torch.nn.Linear layout [out, in], one kv head of 4");
        assertEquals(12, registry.get("model.layers.0.mlp.down_proj.weight").shape()[1]);
        assertTrue(registry.all().stream().allMatch(np -> !np.trainable()), "built frozen");
    }

    @Test
    void tiedHeadIsTheEmbeddingAndEqualsAnUntiedCopy() {
        LlamaModel tied = tiny(true, 5, DataType.DOUBLE, KernelChoice.PORTABLE);
        ParamRegistry registry = new ParamRegistry(tied);
        assertFalse(registry.paths().contains("lm_head.weight"), "a tied head is listed once, as the embedding");
        assertFalse(tied.hfStateDict().containsKey("lm_head.weight"));
        assertSame(tied.tokenEmbedding(), tied.module().child("lm_head").params().get("weight"));

        Map<String, INDArray> tensors = new HashMap<>(tied.hfStateDict());
        tensors.put("lm_head.weight", tied.tokenEmbedding().value().dup());
        LlamaConfig untiedConfig = TinyDecoders.tinyLlama().tieWordEmbeddings(false).initializerRange(0.5).build();
        LlamaModel untied = LlamaModel.fromWeights(untiedConfig, WeightSource.of(tensors), DataType.DOUBLE, KernelChoice.PORTABLE);
        assertTrue(new ParamRegistry(untied).paths().contains("lm_head.weight"));
        TokenBatch batch = TinyModels.paddedBatch();
        assertTrue(logits(tied, batch).equalsWithEps(logits(untied, batch), 1e-12));
    }

    @Test
    void cpuAndPortableKernelsGiveTheSameLogitsAndGradients() {
        LlamaModel cpu = tiny(false, 7, DataType.FLOAT, KernelChoice.CPU);
        LlamaModel portable = tiny(false, 7, DataType.FLOAT, KernelChoice.PORTABLE);
        new ParamRegistry(cpu).unfreezeAll();
        new ParamRegistry(portable).unfreezeAll();
        TokenBatch batch = TinyModels.paddedBatch();
        assertTrue(logits(cpu, batch).equalsWithEps(logits(portable, batch), 1e-5));
        Loss a = Gpt2ModelTest.lossAndGradients(new CausalLmTask(cpu), batch);
        Loss b = Gpt2ModelTest.lossAndGradients(new CausalLmTask(portable), batch);
        assertEquals(b.value(), a.value(), 1e-5);
        List<ParamRegistry.NamedParam> pa = new ParamRegistry(cpu).all();
        List<ParamRegistry.NamedParam> pb = new ParamRegistry(portable).all();
        for (int i = 0; i < pa.size(); i++) {
            INDArray ga = pa.get(i).param().grad();
            INDArray gb = pb.get(i).param().grad();
            double diff = ga.sub(gb).amaxNumber().doubleValue();
            assertTrue(diff < 1e-4 * Math.max(1, gb.amaxNumber().doubleValue()), pa.get(i).path() + " differs by " + diff);
        }
    }

    @Test
    void freezingAllButTheLastBlockSkipsBackwardBelowIt() {
        LlamaModel full = tiny(false, 9, DataType.DOUBLE, KernelChoice.PORTABLE);
        LlamaModel partial = tiny(false, 9, DataType.DOUBLE, KernelChoice.PORTABLE);
        new ParamRegistry(full).unfreezeAll();
        ParamRegistry registry = new ParamRegistry(partial);
        registry.unfreezeMatching(Pattern.compile("model\\.layers\\.1\\..*"));
        TokenBatch batch = TinyModels.paddedBatch();
        int fullDepth;
        int partialDepth;
        try (Tape tape = Tape.recordingWithoutDropout(full.kernels())) {
            new CausalLmTask(full).forward(batch, tape);
            fullDepth = tape.depth();
        }
        try (Tape tape = Tape.recordingWithoutDropout(partial.kernels())) {
            new CausalLmTask(partial).forward(batch, tape);
            partialDepth = tape.depth();
        }
        assertTrue(partialDepth < fullDepth, "block 0 and the embeddings save nothing: " + partialDepth + " vs " + fullDepth);
        Gpt2ModelTest.lossAndGradients(new CausalLmTask(full), batch);
        Gpt2ModelTest.lossAndGradients(new CausalLmTask(partial), batch);
        for (ParamRegistry.NamedParam np : registry.trainable()) {
            assertTrue(new ParamRegistry(full).get(np.path()).grad().equalsWithEps(np.param().grad(), 1e-12), np.path());
        }
    }

    @Test
    void paddingDoesNotChangeTheLogitsOfRealTokens() {
        LlamaModel model = tiny(false, 11, DataType.DOUBLE, KernelChoice.PORTABLE);
        INDArray padded = logits(model, new TokenBatch(1, 5, new int[] {1, 4, 7, 0, 0}, new int[] {1, 1, 1, 0, 0}, null)).getRows(0, 1, 2);
        INDArray alone = logits(model, new TokenBatch(1, 3, new int[] {1, 4, 7}, null, null));
        assertTrue(padded.equalsWithEps(alone, 1e-12));
    }

    @Test
    void rotaryMakesTheOrderOfTokensMatter() {
        LlamaModel model = tiny(false, 13, DataType.DOUBLE, KernelChoice.PORTABLE);
        INDArray ab = logits(model, new TokenBatch(1, 3, new int[] {2, 5, 9}, null, null)).getRow(2);
        INDArray ba = logits(model, new TokenBatch(1, 3, new int[] {5, 2, 9}, null, null)).getRow(2);
        assertTrue(ab.sub(ba).amaxNumber().doubleValue() > 1e-3, "without positions the last token's logits would not depend on the order");
    }

    @Test
    void weightsRoundTripThroughHfNamesWithOrWithoutTheModelPrefix() {
        LlamaModel model = tiny(false, 15, DataType.FLOAT, KernelChoice.PORTABLE);
        TokenBatch batch = TinyModels.paddedBatch();
        INDArray expected = logits(model, batch);
        LlamaModel copy = LlamaModel.fromWeights(model.config(), WeightSource.of(model.hfStateDict()), DataType.FLOAT, KernelChoice.PORTABLE);
        assertTrue(expected.equalsWithEps(logits(copy, batch), 1e-6));

        Map<String, INDArray> base = new HashMap<>();
        model.hfStateDict().forEach((name, t) -> base.put(name.startsWith("model.") ? name.substring(6) : name, t));
        base.put("layers.0.self_attn.rotary_emb.inv_freq", Nd4j.ones(DataType.FLOAT, 2));   // saved by old checkpoints, ignored
        LlamaModel fromBase = LlamaModel.fromWeights(model.config(), WeightSource.of(base), DataType.DOUBLE, KernelChoice.PORTABLE);
        assertTrue(expected.castTo(DataType.DOUBLE).equalsWithEps(logits(fromBase, batch), 1e-5));
    }

    @Test
    void checkpointsThatDoNotMatchTheConfigAreRejectedByName() {
        LlamaModel model = tiny(false, 17, DataType.FLOAT, KernelChoice.PORTABLE);
        Map<String, INDArray> missing = new HashMap<>(model.hfStateDict());
        missing.remove("model.layers.1.mlp.up_proj.bias");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> LlamaModel.fromWeights(model.config(), WeightSource.of(missing), DataType.FLOAT, KernelChoice.PORTABLE));
        assertTrue(e.getMessage().contains("model.layers.1.mlp.up_proj.bias"), e.getMessage());

        LlamaConfig withoutBiases = TinyDecoders.tinyLlama().attentionBias(false).mlpBias(false).build();
        e = assertThrows(IllegalArgumentException.class,
                () -> LlamaModel.fromWeights(withoutBiases, WeightSource.of(model.hfStateDict()), DataType.FLOAT, KernelChoice.PORTABLE));
        assertTrue(e.getMessage().contains("model.layers.0.self_attn.q_proj.bias"), e.getMessage());

        LlamaConfig wider = TinyDecoders.tinyLlama().intermediateSize(24).build();
        e = assertThrows(IllegalArgumentException.class,
                () -> LlamaModel.fromWeights(wider, WeightSource.of(model.hfStateDict()), DataType.FLOAT, KernelChoice.PORTABLE));
        assertTrue(e.getMessage().contains("mlp.gate_proj.weight' has shape [20, 12] but the config needs [24, 12]"), e.getMessage());
    }

    @Test
    void qwen2HasBiasesOnQueryKeyValueOnly() {
        LlamaConfig config = TinyDecoders.tinyLlama().modelType("qwen2").mlpBias(false).build();
        List<String> paths = new ParamRegistry(LlamaModel.random(config, 1, DataType.FLOAT, KernelChoice.AUTO)).paths();
        assertTrue(paths.containsAll(List.of("model.layers.0.self_attn.q_proj.bias", "model.layers.0.self_attn.k_proj.bias",
                "model.layers.0.self_attn.v_proj.bias")));
        assertFalse(paths.contains("model.layers.0.self_attn.o_proj.bias"));
        assertFalse(paths.stream().anyMatch(p -> p.contains("mlp") && p.endsWith("bias")));
    }

    @Test
    void slidingWindowLimitsTheSequenceLength() {
        LlamaConfig config = TinyDecoders.tinyLlama().modelType("mistral").attentionBias(false).mlpBias(false).slidingWindow(4).build();
        LlamaModel model = LlamaModel.random(config, 1, DataType.FLOAT, KernelChoice.AUTO);
        assertEquals(4, logits(model, new TokenBatch(1, 4, new int[] {1, 2, 3, 4}, null, null)).rows());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> logits(model, new TokenBatch(1, 5, new int[] {1, 2, 3, 4, 5}, null, null)));
        assertTrue(e.getMessage().contains("sliding_window = 4"), e.getMessage());
    }
}
