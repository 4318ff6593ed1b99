package org.peft4j.prompt;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Supplier;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.peft4j.core.model.CausalLm;
import org.peft4j.core.model.CausalLmTask;
import org.peft4j.core.model.PretrainedModel;
import org.peft4j.core.model.TokenBatch;
import org.peft4j.core.model.gpt2.Gpt2Model;
import org.peft4j.core.nn.InputHook;
import org.peft4j.core.nn.KeyValueCache;
import org.peft4j.core.nn.ModuleTree;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.param.ParamRegistry;
import org.peft4j.core.testing.GradientCheck;
import org.peft4j.core.train.TrainableTask;
import org.peft4j.core.tuner.PeftModel;
import org.peft4j.core.tuner.TaskType;
import org.peft4j.prompt.ptuning.PTuningConfig;
import org.peft4j.prompt.ptuning.PTuningConfig.EncoderType;

/**
 * P-Tuning's templates (virtual tokens around the input): gradients against finite differences, outputs against
 * the base model run on combined input embeddings built by hand, the default layout unchanged, files, bad templates.
 */
class PTuningTemplateTest {
    private static PTuningConfig config(String kind, EncoderType type, String template) {
        PTuningConfig c = PTuningConfig.of(3, type).withEncoderHiddenSize(5).withTemplate(template == null ? null : PromptTemplate.parse(template));
        return kind.equals("bert") ? c.withBase(c.base().withTaskType(TaskType.SEQ_CLS)) : c;
    }

    private static VirtualTokenHook hook(PretrainedModel model) {
        return (VirtualTokenHook) ModuleTree.modules(model.module()).values().stream().filter(m -> m instanceof VirtualTokenHook).findFirst()
                .orElseThrow();
    }

    static Stream<Arguments> gradientCases() {
        // a causal LM's loss sees no virtual token after the last real one, so the decoders' templates have two before it
        return Stream.of(Arguments.of("gpt2", EncoderType.MLP, "2,input,1"), Arguments.of("gpt2", EncoderType.LSTM, "2,input,1"),
                Arguments.of("llama", EncoderType.MLP, "2,input,1"), Arguments.of("bert", EncoderType.MLP, "1,input,2"),
                Arguments.of("bert", EncoderType.MLP, "input,3"));
    }

    @ParameterizedTest(name = "{0} {1} {2}")
    @MethodSource("gradientCases")
    void encoderGradientsMatchFiniteDifferencesWithATemplate(String kind, EncoderType type, String template) {
        PretrainedModel model = PromptGradientTest.model(kind, 5);
        try (PeftModel<PretrainedModel> peft = PeftModel.builder(model).adapter("default", config(kind, type, template)).seed(11).build()) {
            if (model instanceof Gpt2Model gpt2) {
                gpt2.tokenEmbedding().setTrainable(true);             // checks dL/d(token embeddings) through the template's rows too
            }
            TrainableTask<TokenBatch> task = peft.trainableTask(PromptFixtures.task(model));
            TokenBatch batch = PromptFixtures.batch(model);
            List<ParamRegistry.NamedParam> trainable = new ParamRegistry(model.module()).trainable();
            Supplier<Double> loss = PromptFixtures.backwardOnce(task, batch, model.kernels(), trainable);
            SplittableRandom rng = new SplittableRandom(3);
            int checked = 0;
            for (ParamRegistry.NamedParam np : trainable) {
                if (!np.path().contains("classifier")) {
                    GradientCheck.checkParam(kind + " " + template + " " + np.path(), np.param(), loss, 6, 1e-6, rng);
                    checked++;
                }
            }
            assertTrue(checked >= 3, "the table and the encoder's layers are checked: " + checked);
        }
    }

    /** The base model's input embeddings replaced by given ones (HF's inputs_embeds). */
    private static final class InputsEmbeds extends InputHook {
        private final INDArray embeds;

        InputsEmbeds(INDArray embeds) {
            this.embeds = embeds;
        }

        @Override
        public INDArray forward(INDArray tokenEmbeddings, Tape tape) {
            assertArrayEquals(embeds.shape(), tokenEmbeddings.shape(), "one row per combined position");
            return embeds.dup();
        }

        @Override
        public INDArray backward(INDArray gradOutput, Tape tape) {
            return gradOutput;
        }
    }

    /** The combined sequence by hand: ids (placeholders), mask, types, per-row labels and input embeddings. */
    private record Combined(TokenBatch batch, int[] rowLabels, INDArray embeds) {
    }

    /**
     * Per sequence: virtual rows 0…before−1, the real tokens' embeddings, virtual rows before…n−1, then the padding
     * tokens; virtual rows have mask 1, type 0 and no label.
     */
    private static Combined combine(TokenBatch b, INDArray table, INDArray prompt, int before) {
        int n = prompt.rows();
        int t = b.seqLen();
        int s = n + t;
        int[] mask = new int[b.batch() * s];
        int[] types = new int[b.batch() * s];
        int[] labels = new int[b.batch() * s];
        INDArray embeds = Nd4j.create(table.dataType(), (long) b.batch() * s, table.columns());
        for (int q = 0; q < b.batch(); q++) {
            int row = q * s;
            for (int j = 0; j < before; j++, row++) {
                embeds.putRow(row, prompt.getRow(j));
                mask[row] = 1;
                labels[row] = TokenBatch.IGNORE_INDEX;
            }
            for (int pass = 1; pass >= 0; pass--) {                   // the real tokens, then (after the suffix) the padding
                for (int i = 0; i < t; i++) {
                    int k = q * t + i;
                    if (b.attentionMask()[k] == pass) {
                        embeds.putRow(row, table.getRow(b.ids()[k]));
                        mask[row] = pass;
                        types[row] = b.typeIds() == null ? 0 : b.typeIds()[k];
                        labels[row] = b.labels().length == b.ids().length ? b.labels()[k] : 0;
                        row++;
                    }
                }
                for (int j = before; j < n && pass == 1; j++, row++) {
                    embeds.putRow(row, prompt.getRow(j));
                    mask[row] = 1;
                    labels[row] = TokenBatch.IGNORE_INDEX;
                }
            }
        }
        TokenBatch combined = new TokenBatch(b.batch(), s, new int[b.batch() * s], mask, null, b.typeIds() == null ? null : types);
        return new Combined(combined, labels, embeds);
    }

    /** The base model (adapters off) run on the combined embeddings, as HF runs it on inputs_embeds. */
    private static INDArray baseOnEmbeds(PeftModel<PretrainedModel> peft, Combined c) {
        PretrainedModel model = peft.base();
        var hooks = model.inputHooks().orElseThrow();
        hooks.add("inputs_embeds", new InputsEmbeds(c.embeds()));
        try (PeftModel.Scope off = peft.disableAdapters()) {
            return PromptFixtures.logits(model, c.batch());
        } finally {
            hooks.remove("inputs_embeds");
        }
    }

    static Stream<Arguments> semanticsCases() {
        return Stream.of(Arguments.of("gpt2", "2,input,1"), Arguments.of("gpt2", "input,3"), Arguments.of("gpt2", null),
                Arguments.of("llama", "1,input,2"), Arguments.of("llama", null),
                Arguments.of("bert", "1,input,2"), Arguments.of("bert", "input,3"), Arguments.of("bert", null));
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("semanticsCases")
    void outputsEqualTheBaseModelOnInputEmbeddingsInterleavedByHand(String kind, String template) {
        PretrainedModel model = PromptGradientTest.model(kind, 7);
        PTuningConfig config = config(kind, EncoderType.LSTM, template);
        try (PeftModel<PretrainedModel> peft = PeftModel.builder(model).adapter("default", config).seed(13).build()) {
            INDArray prompt;
            try (Tape tape = Tape.inference(model.kernels())) {
                prompt = hook(model).prompt().forward(tape).dup();                     // [3, d], made at once in template order
            }
            TokenBatch batch = PromptFixtures.batch(model);
            int before = template == null ? 3 : PromptTemplate.parse(template).before();
            Combined combined = combine(batch, model.inputEmbedding().orElseThrow().value(), prompt, before);
            INDArray expected = baseOnEmbeds(peft, combined);
            INDArray actual = PromptFixtures.logits(model, batch);
            PromptFixtures.assertClose(expected, actual, 1e-12, kind + " " + template);
            if (model instanceof CausalLm lm) {
                assertEquals(2 * 8, actual.rows(), "a row for every virtual and given token");
                double loss;
                try (Tape tape = Tape.inference(model.kernels())) {
                    loss = new CausalLmTask(lm).forward(batch, tape).value();
                }
                assertEquals(shiftedLoss(expected, combined.rowLabels(), 8), loss, 1e-12, "labels: the row before each token predicts it");
            }
        }
    }

    /** HF's loss on the combined sequence: row r is scored against the label of row r+1 (virtual rows: -100). */
    private static double shiftedLoss(INDArray logits, int[] rowLabels, int seq) {
        double sum = 0;
        int count = 0;
        for (int r = 0; r < rowLabels.length; r++) {
            int label = r % seq + 1 < seq ? rowLabels[r + 1] : TokenBatch.IGNORE_INDEX;
            if (label == TokenBatch.IGNORE_INDEX) {
                continue;
            }
            double[] row = logits.getRow(r).toDoubleVector();
            double max = Double.NEGATIVE_INFINITY;
            for (double v : row) {
                max = Math.max(max, v);
            }
            double z = 0;
            for (double v : row) {
                z += Math.exp(v - max);
            }
            sum += Math.log(z) + max - row[label];
            count++;
        }
        return sum / count;
    }

    @Test
    void aSequenceGivesTheSameRowsPaddedOrAlone() {
        for (String kind : List.of("gpt2", "llama")) {
            PretrainedModel model = PromptGradientTest.model(kind, 8);
            try (PeftModel<PretrainedModel> peft = PeftModel.builder(model).adapter("default", config(kind, EncoderType.MLP, "1,input,2")).build()) {
                INDArray padded = PromptFixtures.logits(model, PromptFixtures.lmBatch());                 // sequence 2: 4 real tokens, 1 pad
                INDArray alone = PromptFixtures.logits(model, new TokenBatch(1, 4, new int[] {3, 3, 8, 12}, null, null));
                INDArray rows = Nd4j.pullRows(padded, 1, new int[] {8, 9, 10, 11, 12, 13, 14}, 'c');    // 1 + 4 + 2 rows, before the pad
                PromptFixtures.assertClose(alone, rows, 1e-12, kind + ": the suffix follows the real tokens, the padding comes last");
            }
        }
    }

    /** The logits, the loss and every trainable param's gradient of one recorded pass, copied. */
    private static List<INDArray> pass(PretrainedModel model, PeftModel<PretrainedModel> peft) {
        TrainableTask<TokenBatch> task = peft.trainableTask(PromptFixtures.task(model));
        List<ParamRegistry.NamedParam> trainable = new ParamRegistry(model.module()).trainable();
        trainable.forEach(np -> np.param().zeroGrad());
        List<INDArray> out = new java.util.ArrayList<>();
        out.add(PromptFixtures.logits(model, PromptFixtures.batch(model)));
        try (Tape tape = Tape.recordingWithoutDropout(model.kernels())) {
            out.add(Nd4j.scalar(task.forward(PromptFixtures.batch(model), tape).value()));
            task.backward(tape, 1.0);
        }
        trainable.forEach(np -> out.add(np.param().grad().dup()));
        return out;
    }

    @Test
    void theDefaultIsAllVirtualTokensBeforeTheInputBitForBit() {
        for (String kind : List.of("gpt2", "llama", "bert")) {
            for (EncoderType type : EncoderType.values()) {
                List<INDArray> none;
                List<INDArray> explicit;
                PretrainedModel model = PromptGradientTest.model(kind, 9);
                try (PeftModel<PretrainedModel> peft = PeftModel.builder(model).adapter("default", config(kind, type, null)).seed(3).build()) {
                    none = pass(model, peft);
                    assertFalse(peft.config("default").toHfJson().has(PTuningConfig.TEMPLATE_KEY), "no key without a template: HF's file");
                }
                try (PeftModel<PretrainedModel> peft = PeftModel.builder(model).adapter("default", config(kind, type, "3,input")).seed(3).build()) {
                    explicit = pass(model, peft);                       // rows placed by the template's gather, not prepended
                }
                assertEquals(none.size(), explicit.size());
                for (int k = 0; k < none.size(); k++) {
                    PromptFixtures.assertBitIdentical(none.get(k), explicit.get(k), kind + " " + type + ": '3,input' is the default, output " + k);
                }
            }
        }
        int[] rows = new int[6];
        int[] source = PromptTemplate.prefix(2).sourceOfRow(2, 3, new int[] {1, 1, 1, 0, 1, 1}, rows);
        assertArrayEquals(new int[] {6, 7, 0, 1, 2, 6, 7, 3, 4, 5}, source, "a prefix: the tokens as given, padding where it is (HF's layout)");
        assertArrayEquals(new int[] {2, 3, 4, 2, 3, 4}, rows);
        source = new PromptTemplate(1, 1).sourceOfRow(2, 3, new int[] {1, 1, 1, 0, 1, 1}, rows);
        assertArrayEquals(new int[] {6, 0, 1, 2, 7, 6, 4, 5, 7, 3}, source, "a suffix follows the real tokens; padding last");
        assertArrayEquals(new int[] {1, 2, 3, 4, 1, 2}, rows);
    }

    @Test
    void saveAndLoadKeepTheTemplateAndTheOutputs(@TempDir Path dir) throws Exception {
        for (String kind : List.of("gpt2", "bert")) {
            PretrainedModel model = PromptGradientTest.model(kind, 10);
            Path out = dir.resolve(kind);
            INDArray trained;
            try (PeftModel<PretrainedModel> peft = PeftModel.builder(model).adapter("default", config(kind, EncoderType.LSTM, "1,input,2")).build()) {
                trained = PromptFixtures.logits(model, PromptFixtures.batch(model));
                peft.save(out);
            }
            ObjectNode json = (ObjectNode) new ObjectMapper().readTree(out.resolve("adapter_config.json").toFile());
            assertEquals("1,input,2", json.get(PTuningConfig.TEMPLATE_KEY).asText());
            assertEquals("P_TUNING", json.get("peft_type").asText());
            try (PeftModel<PretrainedModel> loaded = PeftModel.load(PromptGradientTest.model(kind, 10), out)) {
                PTuningConfig c = (PTuningConfig) loaded.config("default");
                assertEquals(new PromptTemplate(1, 2), c.template());
                PromptFixtures.assertBitIdentical(trained, PromptFixtures.logits(loaded.base(), PromptFixtures.batch(model)), kind + ": save → load");
            }
            json.remove(PTuningConfig.TEMPLATE_KEY);                         // as HF PEFT writes it: the tokens are prepended
            Files.writeString(out.resolve("adapter_config.json"), json.toString());
            try (PeftModel<PretrainedModel> loaded = PeftModel.load(PromptGradientTest.model(kind, 10), out)) {
                assertNull(((PTuningConfig) loaded.config("default")).template());
                assertTrue(hook(loaded.base()).describe().endsWith("n=3)"), hook(loaded.base()).describe());
            }
        }
    }

    @Test
    void badTemplatesAreRejectedWithTheReason() {
        String[][] cases = {{"", "empty"}, {"3", "no 'input'"}, {"input", "no virtual tokens"}, {"input,2,input", "more than one 'input'"},
            {"1,2,input", "write them as one segment 3"}, {"0,input", "counts must be > 0"}, {"-1,input", "counts must be > 0"},
            {"x,input", "'x' is neither a count"}, {"[P*3],input", "neither a count"}};
        for (String[] c : cases) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> PromptTemplate.parse(c[0]), c[0]);
            assertTrue(e.getMessage().contains(c[1]), c[0] + ": " + e.getMessage());
        }
        assertEquals(new PromptTemplate(2, 3), PromptTemplate.parse(" 2 , INPUT , 3 "));
        IllegalArgumentException sum = assertThrows(IllegalArgumentException.class,
                () -> PTuningConfig.of(4, EncoderType.MLP).withTemplate(PromptTemplate.parse("1,input,2")));
        assertTrue(sum.getMessage().contains("has 3 virtual tokens but num_virtual_tokens = 4"), sum.getMessage());
        ObjectNode json = PTuningConfig.of(3, EncoderType.MLP).toHfJson();
        json.put(PTuningConfig.TEMPLATE_KEY, 3);
        IllegalArgumentException notText = assertThrows(IllegalArgumentException.class, () -> PTuningConfig.fromHfJson(json));
        assertTrue(notText.getMessage().contains("must be a string"), notText.getMessage());
        json.put(PTuningConfig.TEMPLATE_KEY, "2,input,2");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> PTuningConfig.fromHfJson(json)).getMessage().contains("num_virtual_tokens = 3"));
    }

    @Test
    void generationTakesOnlyTemplatesWhoseVirtualTokensPrecedeTheInput() {
        CausalLm model = PromptFixtures.gpt2(12);
        double[][] steps = new double[2][];
        for (int k = 0; k < 2; k++) {
            try (PeftModel<PretrainedModel> peft = PeftModel.builder((PretrainedModel) model)
                    .adapter("default", config("gpt2", EncoderType.MLP, k == 0 ? null : "3,input")).seed(2).build();
                    KeyValueCache cache = new KeyValueCache()) {
                for (int[] tokens : new int[][] {{1, 2}, {5}, {9}}) {
                    try (Tape tape = Tape.inference(model.kernels())) {
                        INDArray logits = model.forward(new TokenBatch(1, tokens.length, tokens, null, null), cache, tape);
                        steps[k] = logits.getRow(logits.rows() - 1).toDoubleVector();
                    }
                }
                assertEquals(3 + 4, cache.length(), "the virtual tokens are cached once");
            }
        }
        assertArrayEquals(steps[0], steps[1], 0.0, "a prefix template generates as the default");
        try (PeftModel<PretrainedModel> peft = PeftModel.builder((PretrainedModel) model).adapter("default", config("gpt2", EncoderType.MLP, "2,input,1"))
                .build(); KeyValueCache cache = new KeyValueCache(); Tape tape = Tape.inference(model.kernels())) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> model.forward(new TokenBatch(1, 2, new int[] {1, 2}, null, null), cache, tape));
            assertTrue(e.getMessage().contains("generate with a template whose virtual tokens all precede the input, e.g. '3,input'"), e.getMessage());
        }
    }
}
