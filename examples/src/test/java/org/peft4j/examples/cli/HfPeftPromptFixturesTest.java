package org.peft4j.examples.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.peft4j.core.kernel.KernelChoice;
import org.peft4j.core.model.CausalLm;
import org.peft4j.core.model.LoadOptions;
import org.peft4j.core.model.PretrainedModel;
import org.peft4j.core.model.SequenceClassifier;
import org.peft4j.core.model.TokenBatch;
import org.peft4j.core.model.generate.GenerationConfig;
import org.peft4j.core.model.generate.Generator;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.tokenizer.HfTokenizer;
import org.peft4j.core.tuner.AdapterFiles;
import org.peft4j.core.tuner.PeftModel;
import org.peft4j.prompt.prompttuning.PromptTuningConfig;

/**
 * Prompt-learning adapters made and saved by the real HF PEFT (0.21.0, transformers 5.18.0, torch 2.13.0; see
 * {@code docs/scripts/hf_peft_prompt_fixtures.py}) on tiny GPT-2, LLaMA (grouped-query attention) and Qwen2 checkpoints:
 * Prompt Tuning (random and TEXT init), P-Tuning with the MLP and the LSTM encoder, Prefix Tuning with the projection
 * and P-Tuning v2; and on a tiny BERT classifier (SEQ_CLS, the head trained as a module to save). peft4j loads each with
 * the path {@code peft4j logits --adapter} takes and must give HF's logits at every real token of a batch with right and
 * left padding (BERT: HF's label logits), and HF's greedy continuation of a prompt.
 */
class HfPeftPromptFixturesTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * Largest |Δ| allowed between peft4j's and HF's float32 logits. Both compute in float32 from the same weights, in a
     * different order of operations (ND4J/BLAS or peft4j's SIMD kernels vs torch); the logits here are at most ~6.5 in
     * magnitude, where one float32 ulp is 4.8e-7, and the largest difference measured is 8.1e-6 (portable kernels; 6.9e-6
     * with the CPU kernels), about 17 ulps. 2e-5 leaves room for other BLAS builds and SIMD widths (leaving the prefix out
     * moves these logits by 6 to 10).
     */
    private static final double TOLERANCE = 2e-5;

    static Path fixtures() {
        try {
            return Path.of(HfPeftPromptFixturesTest.class.getResource("/hf-peft-prompt").toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * The base checkpoint: the BERT classifier is among the fixtures; the decoders live in peft-core's test resources
     * (tests run with the examples module as working directory).
     */
    static Path base(JsonNode expected) {
        String name = expected.get("base").asText();
        Path dir = name.equals("bert-base") ? fixtures().resolve(name) : Path.of("..", "peft-core", "src", "test", "resources", "reference", name);
        assertTrue(Files.isRegularFile(dir.resolve("model.safetensors")), "the base checkpoint " + dir.toAbsolutePath() + " is missing");
        return dir;
    }

    static List<String> cases() throws IOException {
        List<String> names = new ArrayList<>();
        try (Stream<Path> dirs = Files.list(fixtures())) {
            dirs.filter(d -> Files.isRegularFile(d.resolve("expected.json"))).forEach(d -> names.add(d.getFileName().toString()));
        }
        names.sort(null);
        assertEquals(24, names.size(), "4 base models x 6 adapters: " + names);
        return names;
    }

    /** The causal LM cases, which have HF's greedy continuation. */
    static List<String> causalCases() throws IOException {
        return cases().stream().filter(n -> !n.startsWith("bert-")).toList();
    }

    static JsonNode expected(String name) throws IOException {
        return JSON.readTree(fixtures().resolve(name).resolve("expected.json").toFile());
    }

    static int[][] rows(JsonNode array) {
        int[][] out = new int[array.size()][];
        for (int i = 0; i < out.length; i++) {
            out[i] = new int[array.get(i).size()];
            for (int j = 0; j < out[i].length; j++) {
                out[i][j] = array.get(i).get(j).asInt();
            }
        }
        return out;
    }

    static int[] ints(JsonNode array) {
        return rows(JSON.createArrayNode().add(array))[0];
    }

    static int[] flat(int[][] rows) {
        return Stream.of(rows).flatMapToInt(Arrays::stream).toArray();
    }

    /** The model and the HF-made adapter, loaded as {@code peft4j logits --adapter} loads them. */
    static PeftModel<PretrainedModel> load(String name) throws IOException {
        return load(name, null);
    }

    /** The same with the given kernels (null: the CLI's choice). */
    static PeftModel<PretrainedModel> load(String name, KernelChoice kernels) throws IOException {
        String base = base(expected(name)).toString();
        LoadOptions options = ModelLoader.describedOptions(base);
        if (kernels != null) {
            options = new LoadOptions(options.dataType(), kernels, options.head(), options.numLabels(), options.seed());
        }
        return AdapterSupport.load(base, fixtures().resolve(name), options);
    }

    static Stream<Arguments> casesAndKernels() throws IOException {
        return cases().stream().flatMap(c -> Stream.of(Arguments.of(c, KernelChoice.CPU), Arguments.of(c, KernelChoice.PORTABLE)));
    }

    /** Max |Δ| between HF's logits {@code [b][t][v]} and peft4j's rows {@code [b·t, v]} over the tokens where {@code mask} is 1. */
    static double maxDifference(JsonNode hf, INDArray peft4j, int[][] ids, int[][] mask) {
        double worst = 0;
        int seq = ids[0].length;
        for (int b = 0; b < ids.length; b++) {
            for (int t = 0; t < ids[b].length; t++) {
                if (mask[b][t] == 0) {
                    continue;
                }
                JsonNode row = hf.get(b).get(t);
                assertEquals(peft4j.columns(), row.size(), "vocabulary size");
                for (int v = 0; v < row.size(); v++) {
                    worst = Math.max(worst, Math.abs(row.get(v).asDouble() - peft4j.getDouble((long) b * seq + t, v)));
                }
            }
        }
        return worst;
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("casesAndKernels")
    void theHfAdapterGivesHfLogitsAtEveryRealToken(String name, KernelChoice kernels) throws Exception {
        JsonNode expected = expected(name);
        int[][] ids = rows(expected.get("input_ids"));
        int[][] mask = rows(expected.get("attention_mask"));
        try (PeftModel<PretrainedModel> peft = load(name, kernels)) {
            TokenBatch batch = new TokenBatch(ids.length, ids[0].length, flat(ids), flat(mask), null);
            if (peft.base() instanceof SequenceClassifier classifier) {
                INDArray labels;
                try (Tape tape = Tape.inference(peft.base().kernels())) {
                    labels = classifier.forward(batch, tape).dup();
                }
                JsonNode hf = expected.get("logits");
                assertArrayEquals(new long[] {ids.length, hf.get(0).size()}, labels.shape(), "one row of label logits per sequence");
                double worst = 0;
                for (int b = 0; b < ids.length; b++) {
                    for (int c = 0; c < hf.get(b).size(); c++) {
                        worst = Math.max(worst, Math.abs(hf.get(b).get(c).asDouble() - labels.getDouble(b, c)));
                    }
                }
                assertTrue(worst <= TOLERANCE, String.format(Locale.ROOT, "%s, %s kernels: max |peft4j - HF| = %.3g", name, kernels, worst));
                return;
            }
            CausalLm lm = (CausalLm) peft.base();
            INDArray logits;
            try (Tape tape = Tape.inference(peft.base().kernels())) {
                INDArray all = lm.forward(batch, tape);
                logits = LogitsCommand.givenTokens(all, batch, tape.context().inputRows()).dup();
            }
            assertEquals((long) ids.length * ids[0].length, logits.rows(), "the rows of the real tokens");
            double worst = maxDifference(expected.get("logits"), logits, ids, mask);
            assertTrue(worst <= TOLERANCE, String.format(Locale.ROOT, "%s, %s kernels: max |peft4j - HF| = %.3g over the real tokens", name, kernels, worst));
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("causalCases")
    void greedyGenerationContinuesAsHfGenerateDoes(String name) throws Exception {
        JsonNode generate = expected(name).get("generate");
        int[] prompt = ints(generate.get("prompt_ids"));
        int[] hf = ints(generate.get("new_ids"));
        try (PeftModel<PretrainedModel> peft = load(name)) {
            int[] ids = new Generator((CausalLm) peft.base()).generate(prompt, GenerationConfig.greedy(hf.length));
            assertArrayEquals(hf, ids, name + ": greedy continuation of " + generate.get("prompt"));
        }
    }

    /** HF's TEXT init read the prompt's rows off the token embeddings of the init text's ids through the same tokenizer. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("textInitCases")
    void textInitThroughTheSameTokenizerGivesHfsTable(String name) throws Exception {
        JsonNode config = JSON.readTree(fixtures().resolve(name).resolve("adapter_config.json").toFile());
        String text = config.get("prompt_tuning_init_text").asText();
        List<Integer> textIds = new ArrayList<>();
        try (HfTokenizer tokenizer = HfTokenizer.open(fixtures().resolve("tokenizer"))) {
            for (int id : tokenizer.encode(text, Integer.MAX_VALUE).ids()) {
                textIds.add(id);
            }
        }
        String base = base(expected(name)).toString();
        PretrainedModel model = ModelLoader.load(base, ModelLoader.describedOptions(base));
        PromptTuningConfig peft4jConfig = PromptTuningConfig.of(config.get("num_virtual_tokens").asInt()).withTextInit(text, textIds, "tokenizer");
        try (PeftModel<PretrainedModel> hf = load(name);
                PeftModel<PretrainedModel> ours = PeftModel.builder(model).adapter("default", peft4jConfig).build()) {
            INDArray hfTable = hf.adapterState("default").get("prompt_embeddings").value();
            INDArray ourTable = ours.adapterState("default").get("prompt_embeddings").value();
            assertArrayEquals(hfTable.shape(), ourTable.shape());
            assertArrayEquals(hfTable.data().asFloat(), ourTable.data().asFloat(), 0f, name + ": the TEXT-initialised prompt");
        }
    }

    static List<String> textInitCases() throws IOException {
        return cases().stream().filter(n -> n.endsWith("-prompt-text")).toList();
    }

    /**
     * The CLI on HF-made adapters: {@code logits --adapter} (right padding) and, on GPT-2, {@code generate --adapter} with the
     * fixture tokenizer (its 50 words cannot decode the ids 50…63 a LLaMA of vocabulary 64 may generate).
     */
    @Test
    void cliLogitsAndGenerateMatchHf() throws Exception {
        for (String name : List.of("gpt2-prefix-projection", "gpt2-prompt-random", "llama-ptuning-lstm", "qwen2-ptuning-v2")) {
            JsonNode expected = expected(name);
            String base = base(expected).toString();
            String adapter = fixtures().resolve(name).toString();
            // sequences 1 and 2 of the fixture batch: the second is padded on the right, as the CLI pads
            int[][] ids = rows(expected.get("input_ids"));
            int[][] given = {ids[0], Arrays.copyOf(ids[1], 3)};
            int[][] mask = {{1, 1, 1, 1, 1}, {1, 1, 1, 0, 0}};
            assertArrayEquals(mask[1], rows(expected.get("attention_mask"))[1]);
            String idList = Arrays.toString(given[0]).replaceAll("[\\[\\] ]", "") + ";"
                    + Arrays.toString(given[1]).replaceAll("[\\[\\] ]", "");
            Object[] result = InfoAndLogitsCommandTest.run("logits", "--model", base, "--adapter", adapter, "--ids", idList);
            assertEquals(0, result[0], (String) result[2]);
            JsonNode printed = JSON.readTree((String) result[1]);
            int vocab = expected.get("logits").get(0).get(0).size();
            assertEquals("[2,5," + vocab + "]", printed.get("shape").toString(), name + ": the given tokens only");
            INDArray cli = Nd4j.create(flatRows(printed.get("data"), vocab));
            double worst = maxDifference(expected.get("logits"), cli, given, mask);
            assertTrue(worst <= TOLERANCE, String.format(Locale.ROOT, "%s via the CLI: max |peft4j - HF| = %.3g", name, worst));

            if (!name.startsWith("gpt2-")) {
                continue;
            }
            JsonNode generate = expected.get("generate");
            Object[] generated = InfoAndLogitsCommandTest.run("generate", "--model", base, "--adapter", adapter, "--tokenizer",
                    fixtures().resolve("tokenizer").resolve("tokenizer.json").toString(), "--prompt", generate.get("prompt").asText(),
                    "--max-new-tokens", String.valueOf(generate.get("new_ids").size()));
            assertEquals(0, generated[0], (String) generated[2]);
            assertEquals(generate.get("new_ids"), JSON.readTree((String) generated[1]).get("ids"), name + ": generate --adapter");
        }
    }

    /**
     * {@code train --method prompt --prompt-init text --tokenizer FILE} starts from HF's TEXT-initialised table (a learning
     * rate of 1e-30 moves no float32 value in one step) and records the tokenizer's directory as tokenizer_name_or_path,
     * where HF's AutoTokenizer finds it.
     */
    @Test
    void cliTextInitGivesHfsTableAndNamesTheTokenizer(@TempDir Path dir) throws Exception {
        String name = "gpt2-prompt-text";
        JsonNode hfConfig = JSON.readTree(fixtures().resolve(name).resolve("adapter_config.json").toFile());
        Path tokenizer = fixtures().resolve("tokenizer").resolve("tokenizer.json");
        Files.write(dir.resolve("train.jsonl"), List.of("{\"text\":\"w1 w2 w3 w4\"}", "{\"text\":\"w5 w6 w7 w8\"}"));
        Path out = dir.resolve("adapter");
        Object[] trained = InfoAndLogitsCommandTest.run("train", "--model", base(expected(name)).toString(), "--tokenizer", tokenizer.toString(),
                "--task", "causal-lm", "--train", dir.resolve("train.jsonl").toString(), "--max-steps", "1", "--batch-size", "2", "--lr", "1e-30",
                "--weight-decay", "0", "--warmup-ratio", "0", "--method", "prompt", "--num-virtual-tokens", hfConfig.get("num_virtual_tokens").asText(),
                "--prompt-init", "text", "--prompt-init-text", hfConfig.get("prompt_tuning_init_text").asText(), "--out", out.toString());
        assertEquals(0, trained[0], (String) trained[2]);
        JsonNode ours = JSON.readTree(out.resolve("adapter_config.json").toFile());
        assertEquals("TEXT", ours.get("prompt_tuning_init").asText());
        assertEquals(tokenizer.getParent().toAbsolutePath().toString(), ours.get("tokenizer_name_or_path").asText());
        INDArray hfTable = AdapterFiles.readWeights(fixtures().resolve(name)).get("prompt_embeddings");
        INDArray ourTable = AdapterFiles.readWeights(out).get("prompt_embeddings");
        assertArrayEquals(hfTable.shape(), ourTable.shape());
        assertArrayEquals(hfTable.data().asFloat(), ourTable.data().asFloat(), 0f, "the TEXT-initialised prompt, through the CLI");
    }

    /** The printed flat data as rows of {@code width}. */
    private static double[][] flatRows(JsonNode data, int width) {
        double[][] out = new double[data.size() / width][width];
        for (int i = 0; i < data.size(); i++) {
            out[i / width][i % width] = data.get(i).asDouble();
        }
        return out;
    }
}
