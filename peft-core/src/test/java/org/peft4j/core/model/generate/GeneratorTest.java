package org.peft4j.core.model.generate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.kernel.KernelChoice;
import org.peft4j.core.model.CausalLm;
import org.peft4j.core.model.TokenBatch;
import org.peft4j.core.model.gpt2.Gpt2Config;
import org.peft4j.core.model.gpt2.Gpt2Model;
import org.peft4j.core.model.llama.LlamaModel;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.testing.TinyDecoders;

/** Generation with a key/value cache against running the whole sequence each time. */
class GeneratorTest {
    private static final int[] PROMPT = {1, 4, 7, 2};

    /** Weights large enough (std 0.5) that the logits are far from flat and greedy choices are clear. */
    private static CausalLm model(String type) {
        return model(type, DataType.FLOAT);
    }

    private static CausalLm model(String type, DataType dataType) {
        if (type.equals("gpt2")) {
            Gpt2Config config = Gpt2Config.builder().vocabSize(13).nPositions(64).nEmbd(8).nLayer(2).nHead(2).nInner(16).dropout(0)
                    .initializerRange(0.5).build();
            return Gpt2Model.random(config, 21, dataType, KernelChoice.AUTO);
        }
        return LlamaModel.random(TinyDecoders.tinyLlama().initializerRange(0.5).build(), 21, dataType, KernelChoice.AUTO);
    }

    /** Double precision generates too (a workspace copy once turned DOUBLE activations into FLOAT), the same tokens as float here. */
    @ParameterizedTest
    @ValueSource(strings = {"gpt2", "llama"})
    void doublePrecisionGeneratesLikeFloat(String type) {
        assertArrayEquals(new Generator(model(type)).generate(PROMPT, GenerationConfig.greedy(8)),
                new Generator(model(type, DataType.DOUBLE)).generate(PROMPT, GenerationConfig.greedy(8)));
    }

    /** Logits of every position of {@code tokens}, run at once without a cache: {@code [T, vocab]}. */
    private static INDArray uncached(CausalLm model, int[] tokens) {
        try (Tape tape = Tape.inference(model.kernels())) {
            return model.forward(new TokenBatch(1, tokens.length, tokens, null, null), tape);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"gpt2", "llama"})
    void cachedLogitsAtEveryStepEqualTheUncachedOnes(String type) {
        CausalLm model = model(type);
        List<double[]> steps = new ArrayList<>();
        List<Integer> tokens = new ArrayList<>();
        Arrays.stream(PROMPT).forEach(tokens::add);
        try (DecodingSession session = new DecodingSession(model)) {
            double[] logits = session.feed(PROMPT);
            for (int step = 0; step < 24; step++) {     // 28 positions: the cache grows past its first 16
                steps.add(logits);
                int next = Sampling.argmax(logits);
                tokens.add(next);
                logits = session.feed(next);
            }
            assertEquals(PROMPT.length + 24, session.length());
        }
        INDArray full = uncached(model, tokens.stream().mapToInt(Integer::intValue).toArray());
        double worst = 0;
        for (int step = 0; step < steps.size(); step++) {
            double[] expected = full.getRow(PROMPT.length - 1 + step).toDoubleVector();
            for (int v = 0; v < expected.length; v++) {
                worst = Math.max(worst, Math.abs(expected[v] - steps.get(step)[v]));
            }
        }
        assertTrue(worst <= 1e-5, type + ": cached and uncached logits differ by " + worst);
    }

    @ParameterizedTest
    @ValueSource(strings = {"gpt2", "llama"})
    void greedyIsDeterministicAndPicksTheArgmaxOfTheFullSequence(String type) {
        CausalLm model = model(type);
        int[] a = new Generator(model).generate(PROMPT, GenerationConfig.greedy(12));
        int[] b = new Generator(model).generate(PROMPT, GenerationConfig.greedy(12));
        assertArrayEquals(a, b);
        assertEquals(12, a.length);
        int[] sequence = Arrays.copyOf(PROMPT, PROMPT.length + a.length);
        System.arraycopy(a, 0, sequence, PROMPT.length, a.length);
        INDArray full = uncached(model, sequence);
        for (int i = 0; i < a.length; i++) {
            assertEquals(Sampling.argmax(full.getRow(PROMPT.length - 1 + i).toDoubleVector()), a[i], "token " + i);
        }
    }

    @Test
    void topKOfOneIsGreedyWhateverTheSeedAndTemperature() {
        CausalLm model = model("llama");
        int[] greedy = new Generator(model).generate(PROMPT, GenerationConfig.greedy(10));
        for (long seed = 0; seed < 3; seed++) {
            GenerationConfig topOne = GenerationConfig.builder().maxNewTokens(10).sampling(seed).topK(1).temperature(1.7).build();
            assertArrayEquals(greedy, new Generator(model).generate(PROMPT, topOne), "seed " + seed);
        }
    }

    @Test
    void seededSamplingIsReproducibleAndSeedsMatter() {
        CausalLm model = model("gpt2");
        GenerationConfig.Builder sampling = GenerationConfig.builder().maxNewTokens(16).temperature(1.5).topK(0).topP(0.95);
        int[] first = new Generator(model).generate(PROMPT, sampling.sampling(7).build());
        assertArrayEquals(first, new Generator(model).generate(PROMPT, sampling.sampling(7).build()));
        boolean anyDiffers = false;
        for (long seed = 8; seed < 12 && !anyDiffers; seed++) {
            anyDiffers = !Arrays.equals(first, new Generator(model).generate(PROMPT, sampling.sampling(seed).build()));
        }
        assertTrue(anyDiffers, "16 tokens drawn at temperature 1.5 should depend on the seed");
    }

    @Test
    void aStopTokenEndsGenerationAndIsIncluded() {
        CausalLm model = model("llama");
        int[] greedy = new Generator(model).generate(PROMPT, GenerationConfig.greedy(10));
        int stop = greedy[2];
        int firstStop = 0;
        while (greedy[firstStop] != stop) {
            firstStop++;
        }
        int[] stopped = new Generator(model).generate(PROMPT, GenerationConfig.builder().maxNewTokens(10).stopTokenIds(stop).build());
        assertArrayEquals(Arrays.copyOf(greedy, firstStop + 1), stopped);
    }

    @Test
    void configsAreValidatedByName() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> GenerationConfig.builder().topP(0).build());
        assertTrue(e.getMessage().contains("topP must be in (0, 1]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> GenerationConfig.builder().temperature(0).build());
        assertTrue(e.getMessage().contains("temperature"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> GenerationConfig.greedy(0));
        assertTrue(e.getMessage().contains("maxNewTokens"), e.getMessage());
        assertFalse(GenerationConfig.greedy(3).isStopToken(0));
    }
}
