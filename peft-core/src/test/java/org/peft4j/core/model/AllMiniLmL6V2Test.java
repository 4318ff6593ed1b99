package org.peft4j.core.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.kernel.KernelChoice;
import org.peft4j.core.model.bert.BertModel;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.tokenizer.Encoding;
import org.peft4j.core.tokenizer.HfTokenizer;

/**
 * The acceptance test of the BERT port: sentence-transformers' all-MiniLM-L6-v2, read from the ONNX file in
 * langchain4j's jar, run by peft4j on real sentences (padded batches of different lengths, one-segment and
 * two-segment inputs), against onnxruntime running the same file on the same token ids.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class AllMiniLmL6V2Test {
    /** Agreement required on the last hidden state of every real token. */
    private static final double TOLERANCE = 1e-4;
    private static final int BATCH = 8;

    static final List<String> SENTENCES = List.of(
            "The weather is lovely today.",
            "It's so sunny outside!",
            "He drove to the stadium.",
            "Hi",
            "A man is eating food.",
            "A man is riding a white horse on an enclosed ground.",
            "The quick brown fox jumps over the lazy dog, while the cat watches from the windowsill and yawns.",
            "Parameter-efficient fine-tuning adapts large pretrained models by training only a small number of extra weights.",
            "In 1969, Neil Armstrong became the first person to walk on the Moon.",
            "Can you recommend a good restaurant near the train station?",
            "I'm not sure whether the meeting starts at 9:30 or at 10:00 tomorrow morning.",
            "The café on the corner serves crème brûlée and naïve coffee.",
            "Photosynthesis converts light energy into chemical energy stored in glucose.",
            "She sells seashells by the seashore.",
            "Error: the file could not be opened because it is being used by another process.",
            "Stock markets fell sharply on Tuesday after the central bank raised interest rates by half a percentage point.",
            "Why?",
            "Please remember to water the plants, feed the dog, and lock the back door before you leave for the airport.",
            "The mitochondria is the powerhouse of the cell.",
            "Translation: 'Je pense, donc je suis' means 'I think, therefore I am'.",
            "Running unit tests before every commit keeps the build green.",
            "The committee, after lengthy deliberation that lasted well into the night, finally approved the revised budget"
                    + " proposal with a narrow majority of seven votes to six.",
            "Dogs bark.",
            "Quantum computers exploit superposition and entanglement to solve certain problems faster than classical machines.");

    private BuiltinModel minilm;
    private HfTokenizer tokenizer;
    private OrtEnvironment env;
    private OrtSession session;

    @BeforeAll
    void open() throws Exception {
        minilm = Builtins.resolve(Builtins.ALL_MINILM_L6_V2, Path.of("target", "peft4j-builtins"));
        tokenizer = minilm.openTokenizer();
        env = OrtEnvironment.getEnvironment();
        session = env.createSession(minilm.onnxFile().toString(), new OrtSession.SessionOptions());
    }

    @AfterAll
    void close() throws Exception {
        session.close();
        tokenizer.close();
    }

    /** The sentences as padded batches of {@value #BATCH}, plus one batch of two-segment inputs [CLS] a [SEP] b [SEP]. */
    private List<TokenBatch> batches() {
        List<TokenBatch> batches = new ArrayList<>();
        List<Encoding> encodings = SENTENCES.stream().map(s -> tokenizer.encode(s, 128)).toList();
        for (int start = 0; start < encodings.size(); start += BATCH) {
            batches.add(TokenBatch.fromEncodings(encodings.subList(start, Math.min(start + BATCH, encodings.size())), tokenizer.padId()));
        }
        List<Encoding> pairs = new ArrayList<>();
        for (int i = 0; i + 1 < 10; i += 2) {
            Encoding a = encodings.get(i);
            Encoding b = encodings.get(i + 1);
            int n = a.length() + b.length() - 1;                        // b without its [CLS]
            int[] ids = new int[n];
            int[] types = new int[n];
            int[] mask = new int[n];
            System.arraycopy(a.ids(), 0, ids, 0, a.length());
            System.arraycopy(b.ids(), 1, ids, a.length(), b.length() - 1);
            Arrays.fill(types, a.length(), n, 1);
            Arrays.fill(mask, 1);
            pairs.add(new Encoding(ids, types, mask));
        }
        batches.add(TokenBatch.fromEncodings(pairs, tokenizer.padId()));
        return batches;
    }

    /** onnxruntime's last_hidden_state [batch][seq][384] for the batch. */
    private float[][][] onnxRuntime(TokenBatch batch) throws Exception {
        long[][] ids = new long[batch.batch()][batch.seqLen()];
        long[][] mask = new long[batch.batch()][batch.seqLen()];
        long[][] types = new long[batch.batch()][batch.seqLen()];
        for (int b = 0; b < batch.batch(); b++) {
            for (int t = 0; t < batch.seqLen(); t++) {
                int i = b * batch.seqLen() + t;
                ids[b][t] = batch.ids()[i];
                mask[b][t] = batch.attentionMask()[i];
                types[b][t] = batch.typeIds()[i];
            }
        }
        try (OnnxTensor idsTensor = OnnxTensor.createTensor(env, ids);
                OnnxTensor maskTensor = OnnxTensor.createTensor(env, mask);
                OnnxTensor typesTensor = OnnxTensor.createTensor(env, types);
                OrtSession.Result result = session.run(Map.of("input_ids", idsTensor, "attention_mask", maskTensor, "token_type_ids", typesTensor))) {
            return (float[][][]) result.get("last_hidden_state").orElseThrow().getValue();
        }
    }

    private static INDArray peft4j(BertModel model, TokenBatch batch) {
        try (Tape tape = Tape.inference(model.kernels())) {
            return model.forward(batch, tape);                                    // [B·T, 384]
        }
    }

    @ParameterizedTest
    @EnumSource(value = KernelChoice.class, names = {"CPU", "PORTABLE"})
    void lastHiddenStateMatchesOnnxRuntime(KernelChoice kernels) throws Exception {
        try (var onnx = minilm.openWeights()) {
            assertEquals(List.of("last_hidden_state"), onnx.graphOutputs(), "the output onnxruntime is read from");
        }
        BertModel model = minilm.loadEncoder(DataType.FLOAT, kernels);
        double worst = 0;
        int realTokens = 0;
        for (TokenBatch batch : batches()) {
            float[][][] expected = onnxRuntime(batch);
            INDArray actual = peft4j(model, batch);
            for (int b = 0; b < batch.batch(); b++) {
                for (int t = 0; t < batch.seqLen(); t++) {
                    int row = b * batch.seqLen() + t;
                    if (batch.attentionMask()[row] == 0) {
                        continue;
                    }
                    realTokens++;
                    for (int j = 0; j < 384; j++) {
                        worst = Math.max(worst, Math.abs(actual.getDouble(row, j) - expected[b][t][j]));
                    }
                }
            }
        }
        System.out.printf("all-MiniLM-L6-v2, %s kernels: max |peft4j - onnxruntime| = %.3g over %d real tokens (%d sentences and"
                + " 5 two-segment pairs)%n", kernels, worst, realTokens, SENTENCES.size());
        assertTrue(realTokens > 400, "the sentences give " + realTokens + " real tokens");
        assertTrue(worst <= TOLERANCE, kernels + " kernels: max abs difference " + worst + " > " + TOLERANCE);
    }

    /** sentence-transformers' embedding: the mean of the real tokens' hidden states, L2-normalised. */
    private static double[] embedding(float[][] hidden, int[] mask, int offset) {
        double[] sum = new double[hidden[0].length];
        int count = 0;
        for (int t = 0; t < hidden.length; t++) {
            if (mask[offset + t] == 1) {
                count++;
                for (int j = 0; j < sum.length; j++) {
                    sum[j] += hidden[t][j];
                }
            }
        }
        double norm = 0;
        for (int j = 0; j < sum.length; j++) {
            sum[j] /= count;
            norm += sum[j] * sum[j];
        }
        norm = Math.sqrt(norm);
        for (int j = 0; j < sum.length; j++) {
            sum[j] /= norm;
        }
        return sum;
    }

    private static double dot(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += a[i] * b[i];
        }
        return s;
    }

    @Test
    void builtinNamesAndAMissingJarAreExplained() {
        IllegalArgumentException unknown = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> Builtins.resolve("builtin:bert-large", Path.of("target", "peft4j-builtins")));
        assertTrue(unknown.getMessage().contains(Builtins.ALL_MINILM_L6_V2), unknown.getMessage());
        ClassLoader empty = new java.net.URLClassLoader(new java.net.URL[0], null);
        IllegalStateException missing = org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class,
                () -> Builtins.resolve(Builtins.ALL_MINILM_L6_V2, Path.of("target", "peft4j-builtins"), empty));
        assertTrue(missing.getMessage().contains(Builtins.ALL_MINILM_L6_V2_COORDINATES), missing.getMessage());
        assertEquals(30522, minilm.config().vocabSize());
    }

    @Test
    void sentenceEmbeddingsMatchOnnxRuntimeAndSentenceTransformers() throws Exception {
        BertModel model = minilm.loadEncoder(DataType.FLOAT, KernelChoice.AUTO);
        TokenBatch batch = batches().get(0);
        float[][][] ort = onnxRuntime(batch);
        INDArray hidden = peft4j(model, batch);
        List<double[]> ours = new ArrayList<>();
        double worst = 0;
        for (int b = 0; b < batch.batch(); b++) {
            float[][] rows = new float[batch.seqLen()][];
            for (int t = 0; t < batch.seqLen(); t++) {
                rows[t] = hidden.getRow((long) b * batch.seqLen() + t).toFloatVector();
            }
            double[] e = embedding(rows, batch.attentionMask(), b * batch.seqLen());
            double[] reference = embedding(ort[b], batch.attentionMask(), b * batch.seqLen());
            for (int j = 0; j < e.length; j++) {
                worst = Math.max(worst, Math.abs(e[j] - reference[j]));
            }
            ours.add(e);
        }
        System.out.printf("all-MiniLM-L6-v2 sentence embeddings: max |peft4j - onnxruntime| = %.3g%n", worst);
        assertTrue(worst < 1e-5, "normalised mean-pooled embeddings differ by " + worst);
        // the similarities sentence-transformers' quickstart prints for these three sentences with all-MiniLM-L6-v2
        assertEquals(0.6660, dot(ours.get(0), ours.get(1)), 5e-4, "weather vs sunny");
        assertEquals(0.1046, dot(ours.get(0), ours.get(2)), 5e-4, "weather vs stadium");
        assertEquals(0.1411, dot(ours.get(1), ours.get(2)), 5e-4, "sunny vs stadium");
    }
}
