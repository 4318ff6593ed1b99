package org.peft4j.core.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.HashMap;
import java.util.Map;
import java.util.ServiceLoader;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.peft4j.core.kernel.KernelChoice;
import org.peft4j.core.model.gpt2.Gpt2Config;
import org.peft4j.core.model.gpt2.Gpt2Factory;
import org.peft4j.core.model.gpt2.Gpt2Model;
import org.peft4j.core.model.llama.LlamaFactory;
import org.peft4j.core.model.llama.LlamaModel;
import org.peft4j.core.nn.Init;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.param.ParamRegistry;
import org.peft4j.core.testing.TinyDecoders;
import org.peft4j.core.testing.TinyModels;

/** GPT-2 built from HF-named tensors, and both decoder factories. */
class Gpt2WeightsTest {

    private static INDArray logits(CausalLm model, TokenBatch batch) {
        try (Tape tape = Tape.inference(model.kernels())) {
            return model.forward(batch, tape);
        }
    }

    @Test
    void randomInitialisationDrawsWteWpeThenEachBlocksWeightsFromOneGenerator() {
        Gpt2Config config = TinyModels.tinyGpt2();
        Gpt2Model model = Gpt2Model.random(config, 3, DataType.DOUBLE, KernelChoice.PORTABLE);
        SplittableRandom rng = new SplittableRandom(3);
        double projStd = 0.02 / Math.sqrt(2.0 * config.nLayer());
        ParamRegistry registry = new ParamRegistry(model);
        assertEquals(Init.normal(DataType.DOUBLE, 0.02, rng, 13, 8), registry.get("transformer.wte.weight").value());
        assertEquals(Init.normal(DataType.DOUBLE, 0.02, rng, 16, 8), registry.get("transformer.wpe.weight").value());
        assertEquals(Init.normal(DataType.DOUBLE, 0.02, rng, 8, 24), registry.get("transformer.h.0.attn.c_attn.weight").value());
        assertEquals(Init.normal(DataType.DOUBLE, projStd, rng, 8, 8), registry.get("transformer.h.0.attn.c_proj.weight").value());
        assertEquals(Init.normal(DataType.DOUBLE, 0.02, rng, 8, 16), registry.get("transformer.h.0.mlp.c_fc.weight").value());
        assertEquals(Init.normal(DataType.DOUBLE, projStd, rng, 16, 8), registry.get("transformer.h.0.mlp.c_proj.weight").value());
        assertEquals(0.0, registry.get("transformer.h.0.attn.c_attn.bias").value().amaxNumber().doubleValue());
        assertEquals(1.0, registry.get("transformer.h.0.ln_1.weight").value().minNumber().doubleValue());
    }

    @Test
    void loadsHfNamesWithOrWithoutTheTransformerPrefixAndSkipsMaskBuffers() {
        Gpt2Model model = Gpt2Model.random(TinyDecoders.tinyGpt2(), 5, DataType.FLOAT, KernelChoice.PORTABLE);
        TokenBatch batch = TinyModels.paddedBatch();
        INDArray expected = logits(model, batch);

        Map<String, INDArray> lmHeadModel = new HashMap<>(model.hfStateDict());
        lmHeadModel.put("transformer.h.0.attn.bias", Nd4j.ones(DataType.FLOAT, 1, 1, 64, 64));
        lmHeadModel.put("transformer.h.1.attn.masked_bias", Nd4j.scalar(-1e4f));
        lmHeadModel.put("lm_head.weight", model.tokenEmbedding().value());          // HF may save the tied head too
        Gpt2Model loaded = Gpt2Model.fromWeights(model.config(), WeightSource.of(lmHeadModel), DataType.FLOAT, KernelChoice.PORTABLE);
        assertTrue(expected.equalsWithEps(logits(loaded, batch), 1e-6));
        assertTrue(new ParamRegistry(loaded).trainable().isEmpty(), "loaded frozen");

        Map<String, INDArray> baseModel = new HashMap<>();   // GPT2Model's names, as the original "gpt2" checkpoint has them
        model.hfStateDict().forEach((name, t) -> baseModel.put(name.substring("transformer.".length()), t));
        baseModel.put("h.0.attn.bias", Nd4j.ones(DataType.FLOAT, 1, 1, 64, 64));
        Gpt2Model fromBase = Gpt2Model.fromWeights(model.config(), WeightSource.of(baseModel), DataType.DOUBLE, KernelChoice.PORTABLE);
        assertTrue(expected.castTo(DataType.DOUBLE).equalsWithEps(logits(fromBase, batch), 1e-5));
    }

    @Test
    void anUntiedHeadNeedsItsWeightAndStrayTensorsAreNamed() {
        Gpt2Config untied = Gpt2Config.builder().vocabSize(13).nPositions(16).nEmbd(8).nLayer(1).nHead(2).dropout(0).tieWordEmbeddings(false).build();
        Gpt2Model model = Gpt2Model.random(untied, 7, DataType.FLOAT, KernelChoice.PORTABLE);
        Map<String, INDArray> tensors = new HashMap<>(model.hfStateDict());
        assertTrue(tensors.containsKey("lm_head.weight"));
        Gpt2Model.fromWeights(untied, WeightSource.of(tensors), DataType.FLOAT, KernelChoice.PORTABLE);
        tensors.remove("lm_head.weight");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Gpt2Model.fromWeights(untied, WeightSource.of(tensors), DataType.FLOAT, KernelChoice.PORTABLE));
        assertTrue(e.getMessage().contains("'lm_head.weight'"), e.getMessage());
        tensors.put("lm_head.weight", model.tokenEmbedding().value());
        tensors.put("transformer.h.1.attn.c_attn.weight", Nd4j.ones(DataType.FLOAT, 8, 24));
        e = assertThrows(IllegalArgumentException.class,
                () -> Gpt2Model.fromWeights(untied, WeightSource.of(tensors), DataType.FLOAT, KernelChoice.PORTABLE));
        assertTrue(e.getMessage().contains("transformer.h.1.attn.c_attn.weight"), e.getMessage());
    }

    @Test
    void factoriesAreFoundByModelTypeAndBuildTheirModels() {
        Map<String, ModelFactory> byType = ServiceLoader.load(ModelFactory.class).stream().map(ServiceLoader.Provider::get)
                .flatMap(f -> f.modelTypes().stream().map(t -> Map.entry(t, f)))
                .collect(Collectors.toMap(Map.Entry::getKey, Map.Entry::getValue));
        assertInstanceOf(Gpt2Factory.class, byType.get("gpt2"));
        assertInstanceOf(LlamaFactory.class, byType.get("llama"));
        assertInstanceOf(LlamaFactory.class, byType.get("qwen2"));
        assertInstanceOf(LlamaFactory.class, byType.get("mistral"));

        Gpt2Model gpt2 = Gpt2Model.random(TinyDecoders.tinyGpt2(), 9, DataType.FLOAT, KernelChoice.PORTABLE);
        PretrainedModel loaded = new Gpt2Factory().load(gpt2.hfConfig(), WeightSource.of(gpt2.hfStateDict()), LoadOptions.of(ModelHead.CAUSAL_LM));
        assertInstanceOf(Gpt2Model.class, loaded);
        ObjectNode unscaled = gpt2.hfConfig().put("scale_attn_weights", false);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new Gpt2Factory().load(unscaled, WeightSource.of(gpt2.hfStateDict()), LoadOptions.of(ModelHead.CAUSAL_LM)));
        assertTrue(e.getMessage().contains("scale_attn_weights"), e.getMessage());

        LlamaModel llama = LlamaModel.random(TinyDecoders.tinyLlama().modelType("qwen2").mlpBias(false).build(), 9, DataType.FLOAT,
                KernelChoice.PORTABLE);
        CausalLm loadedLlama = (CausalLm) new LlamaFactory().load(llama.hfConfig(), WeightSource.of(llama.hfStateDict()),
                LoadOptions.of(ModelHead.CAUSAL_LM));
        assertEquals("qwen2", loadedLlama.modelType());
        TokenBatch batch = TinyModels.paddedBatch();
        assertTrue(logits(llama, batch).equalsWithEps(logits(loadedLlama, batch), 1e-6));
        e = assertThrows(IllegalArgumentException.class, () -> new LlamaFactory().load(llama.hfConfig(), WeightSource.of(llama.hfStateDict()),
                LoadOptions.classification(ModelHead.SEQUENCE_CLASSIFICATION, 2)));
        assertTrue(e.getMessage().contains("supported: [CAUSAL_LM]"), e.getMessage());
        assertEquals(Set.of(ModelHead.CAUSAL_LM), new LlamaFactory().heads());
    }
}
