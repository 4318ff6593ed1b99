package org.peft4j.examples.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.tokenizer.ByteTokenizer;
import org.peft4j.core.data.TextCorpus;
import org.peft4j.core.data.TokenWindows;
import org.peft4j.core.io.AtomicFiles;
import org.peft4j.core.io.SafetensorsWriter;
import org.peft4j.core.kernel.Activation;
import org.peft4j.core.kernel.KernelChoice;
import org.peft4j.core.model.CausalLmTask;
import org.peft4j.core.model.TokenBatch;
import org.peft4j.core.model.gpt2.Gpt2Config;
import org.peft4j.core.model.gpt2.Gpt2Model;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.param.ParamRegistry;
import org.peft4j.core.train.EvalResult;
import org.peft4j.core.train.LearningRateSchedule.Decay;
import org.peft4j.core.train.LossCsvWriter;
import org.peft4j.core.train.ProgressLogger;
import org.peft4j.core.train.TrainResult;
import org.peft4j.core.train.Trainer;
import org.peft4j.core.train.TrainerConfig;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code peft4j pretrain}: trains a small GPT-2 style decoder from random weights on byte-level text (the
 * Europarl sample by default) with every param trainable, then saves it as an HF GPT-2 model
 * ({@code model.safetensors}, {@code config.json}) and prints a one-line JSON summary last on stdout.
 */
@Command(name = "pretrain",
        sortOptions = false,
        showDefaultValues = true,
        description = {
            "Train a small GPT-2 style model from scratch on byte-level text (vocabulary 256).",
            "Writes OUT/model.safetensors, OUT/config.json, OUT/loss.csv and OUT/samples.txt, and prints a JSON summary last on stdout.",
            "Exit code 3 if the final validation loss is not below ln(256) = 5.545, the loss of a uniform guess."},
        exitCodeListHeading = "%nExit codes:%n",
        exitCodeList = {"0:success", "1:failure while running", "2:invalid options", "3:the model did not learn (eval loss >= ln 256)"})
public final class PretrainCommand extends CliCommand {
    /** Exit code when training ran but the validation loss stayed at or above ln(256). */
    public static final int EXIT_NOT_LEARNED = 3;

    private static final Logger LOG = LoggerFactory.getLogger("org.peft4j.pretrain");
    private static final double LN_VOCAB = Math.log(ByteTokenizer.VOCAB_SIZE);
    private static final int PROMPT_CHARS = 16;
    private static final int SAMPLES = 3;

    @Option(names = "--layers", paramLabel = "N", defaultValue = "4", description = "Transformer blocks (n_layer).")
    int layers;

    @Option(names = "--hidden", paramLabel = "N", defaultValue = "128", description = "Hidden size (n_embd); the MLP is 4x wider.")
    int hidden;

    @Option(names = "--heads", paramLabel = "N", defaultValue = "4", description = "Attention heads (n_head); must divide --hidden.")
    int heads;

    @Option(names = "--seq-len", paramLabel = "N", defaultValue = "128", description = "Bytes per training window (also n_positions).")
    int seqLen;

    @Option(names = "--batch-size", paramLabel = "N", defaultValue = "16", description = "Windows per optimizer step.")
    int batchSize;

    @Option(names = "--steps", paramLabel = "N", defaultValue = "300", description = "Optimizer steps.")
    int steps;

    @Option(names = "--lr", paramLabel = "X", defaultValue = "2e-3", description = "Peak learning rate (AdamW).")
    double lr;

    @Option(names = "--warmup", paramLabel = "N", defaultValue = "30", description = "Linear warmup steps.")
    int warmup;

    @Option(names = "--decay", paramLabel = "KIND", defaultValue = "cosine",
            description = "Learning-rate decay after warmup: constant, linear or cosine.")
    Decay decay;

    @Option(names = "--weight-decay", paramLabel = "X", defaultValue = "0.01", description = "Decoupled weight decay on matrices.")
    double weightDecay;

    @Option(names = "--dropout", paramLabel = "P", defaultValue = "0.0", description = "Dropout on embeddings, attention and residuals.")
    double dropout;

    @Option(names = "--seed", paramLabel = "N", defaultValue = "42",
            description = "Seed of the weights, the data split, the windows and dropout.")
    long seed;

    @Option(names = "--data", paramLabel = "FILE",
            description = "Text to train on instead of Europarl: one document per line, .gz allowed, or .jsonl with a \"text\" field.")
    Path data;

    @Option(names = "--max-lines", paramLabel = "N", defaultValue = "3000", description = "Lines of text to load; 0 = all.")
    int maxLines;

    @Option(names = "--ascii-only", description = "Keep only Europarl lines whose letters are (nearly) all ASCII: English and the like.")
    boolean asciiOnly;

    @Option(names = "--val-fraction", paramLabel = "P", defaultValue = "0.02", description = "Share of the lines held out for validation.")
    double valFraction;

    @Option(names = "--eval-every", paramLabel = "N", defaultValue = "100",
            description = "Evaluate every this many steps; 0 = only at the end.")
    int evalEvery;

    @Option(names = "--eval-batches", paramLabel = "N", defaultValue = "16", description = "Most validation batches per evaluation.")
    int evalBatches;

    @Option(names = "--log-every", paramLabel = "N", defaultValue = "20", description = "Log progress every this many steps.")
    int logEvery;

    @Option(names = "--sample-bytes", paramLabel = "N", defaultValue = "120",
            description = "Bytes of greedy text to sample per prompt at the end; 0 = none.")
    int sampleBytes;

    @Option(names = "--kernels", paramLabel = "KIND", defaultValue = "auto",
            description = "Kernels: auto (the fastest for the backend), portable (ND4J ops) or cpu.")
    KernelChoice kernels;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Directory for the model, loss curve and samples.")
    Path out;

    /**
     * The validated options of one run; each check names its option.
     *
     * @param maxLines lines to load, {@link TextCorpus#ALL_LINES} for all
     * @param data     a text file, or null for Europarl
     */
    public record Settings(int layers, int hidden, int heads, int seqLen, int batchSize, int steps, double lr, int warmup, Decay decay,
            double weightDecay, double dropout, long seed, Path data, int maxLines, boolean asciiOnly, double valFraction, int evalEvery,
            int evalBatches, int logEvery, int sampleBytes, KernelChoice kernels, Path out) {

        public Settings {
            positive("--layers", layers);
            positive("--hidden", hidden);
            positive("--heads", heads);
            if (hidden % heads != 0) {
                throw new IllegalArgumentException("--heads (" + heads + ") must divide --hidden (" + hidden + ")");
            }
            positive("--seq-len", seqLen);
            positive("--batch-size", batchSize);
            positive("--steps", steps);
            if (!(lr > 0) || Double.isInfinite(lr)) {
                throw new IllegalArgumentException("--lr must be a positive finite number, got " + lr);
            }
            if (warmup < 0 || warmup > steps) {
                throw new IllegalArgumentException("--warmup must be in [0, --steps = " + steps + "], got " + warmup);
            }
            if (decay == null) {
                throw new IllegalArgumentException("--decay must be one of constant, linear, cosine");
            }
            if (!(weightDecay >= 0) || Double.isInfinite(weightDecay)) {
                throw new IllegalArgumentException("--weight-decay must be a finite number >= 0, got " + weightDecay);
            }
            if (!(dropout >= 0 && dropout < 1)) {
                throw new IllegalArgumentException("--dropout must be in [0, 1), got " + dropout);
            }
            positive("--max-lines", maxLines);
            if (asciiOnly && data != null) {
                throw new IllegalArgumentException("--ascii-only filters the Europarl text and cannot be combined with --data");
            }
            if (!(valFraction > 0 && valFraction < 1)) {
                throw new IllegalArgumentException("--val-fraction must be in (0, 1), got " + valFraction);
            }
            if (evalEvery < 0) {
                throw new IllegalArgumentException("--eval-every must be >= 0 (0 = only at the end), got " + evalEvery);
            }
            positive("--eval-batches", evalBatches);
            positive("--log-every", logEvery);
            if (sampleBytes < 0) {
                throw new IllegalArgumentException("--sample-bytes must be >= 0 (0 = no samples), got " + sampleBytes);
            }
            if (kernels == null) {
                throw new IllegalArgumentException("--kernels must be one of auto, portable, cpu");
            }
            if (out == null) {
                throw new IllegalArgumentException("--out must name the output directory");
            }
        }

        private static void positive(String option, int value) {
            if (value <= 0) {
                throw new IllegalArgumentException(option + " must be > 0, got " + value);
            }
        }

        /** The model these settings train: byte vocabulary, positions for one window, GPT-2's gelu_new MLP of 4x width. */
        public Gpt2Config modelConfig() {
            return Gpt2Config.builder().vocabSize(ByteTokenizer.VOCAB_SIZE).nPositions(seqLen).nEmbd(hidden).nLayer(layers).nHead(heads)
                    .nInner(4 * hidden).activation(Activation.GELU_TANH).dropout(dropout).build();
        }
    }

    /** The options as validated settings; an invalid value is a usage error that names its option. */
    Settings settings() {
        try {
            return new Settings(layers, hidden, heads, seqLen, batchSize, steps, lr, warmup, decay, weightDecay, dropout, seed, data,
                    maxLines == 0 ? TextCorpus.ALL_LINES : maxLines, asciiOnly, valFraction, evalEvery, evalBatches, logEvery, sampleBytes,
                    kernels, out);
        } catch (IllegalArgumentException e) {
            throw usageError(e.getMessage());
        }
    }

    @Override
    public Integer call() throws IOException {
        Settings s = settings();
        if (s.data() != null && !Files.isRegularFile(s.data())) {
            throw usageError("--data: no such file: " + s.data());
        }
        long start = System.nanoTime();

        TextCorpus corpus = loadCorpus(s);
        TextCorpus.Split split = corpus.split(s.valFraction(), s.seed());
        int[] trainTokens = split.train().tokens();
        int[] valTokens = split.validation().tokens();
        checkLongEnough("training", trainTokens, s);
        checkLongEnough("validation", valTokens, s);
        LOG.info("text: {} lines; {} training bytes, {} validation bytes ({} lines)", corpus.size(), trainTokens.length, valTokens.length,
                split.validation().size());

        Gpt2Model model = Gpt2Model.random(s.modelConfig(), s.seed(), DataType.FLOAT, s.kernels());
        ParamRegistry registry = new ParamRegistry(model);
        registry.unfreezeAll();
        LOG.info("{} on {}; {}", model.describe(), model.kernels().getClass().getSimpleName(), registry.summary());
        CausalLmTask task = new CausalLmTask(model);

        int perEpoch = TokenWindows.batchesCovering(trainTokens.length, s.batchSize(), s.seqLen());
        TokenWindows train = TokenWindows.random(trainTokens, s.batchSize(), s.seqLen(), perEpoch, s.seed());
        TokenWindows eval = TokenWindows.evaluation(valTokens, s.batchSize(), s.seqLen(), s.evalBatches());

        EvalResult initial = Trainer.evaluate(task, eval);
        LOG.info(String.format(java.util.Locale.ROOT, "eval before training | loss %.4f (ln 256 = %.4f)", initial.loss(), LN_VOCAB));

        Files.createDirectories(s.out());
        TrainResult result;
        try (LossCsvWriter csv = new LossCsvWriter(s.out().resolve("loss.csv"))) {
            TrainerConfig config = TrainerConfig.builder()
                    .adamW(s.lr(), s.weightDecay())
                    .warmupSteps(s.warmup())
                    .decay(s.decay())
                    .maxSteps(s.steps())
                    .evalEvery(s.evalEvery())
                    .seed(s.seed())
                    .listener(new ProgressLogger(s.logEvery()))
                    .listener(csv)
                    .build();
            result = new Trainer(config).fit(task, train, eval);
        }

        Path modelFile = s.out().resolve("model.safetensors");
        Map<String, INDArray> tensors = registry.export(np -> true);
        SafetensorsWriter.write(modelFile, tensors, Map.of("format", "pt"));
        AtomicFiles.writeString(s.out().resolve("config.json"), new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsString(model.hfConfig()) + "\n");
        LOG.info("saved {} tensors to {}", tensors.size(), modelFile);

        if (s.sampleBytes() > 0) {
            List<String> samples = sample(model, split.validation(), s);
            AtomicFiles.writeString(s.out().resolve("samples.txt"), String.join("\n", samples) + "\n");
            samples.forEach(line -> LOG.info("sample: {}", line));
        }

        EvalResult last = result.finalEval();
        ObjectNode summary = summary(s, registry, result, initial, (System.nanoTime() - start) / 1e9);
        out().println(new ObjectMapper().writeValueAsString(summary));
        out().flush();
        if (!(last.loss() < LN_VOCAB)) {
            err().printf(java.util.Locale.ROOT, "peft4j pretrain: the model did not learn: eval loss %.4f is not below ln(256) = %.4f%n",
                    last.loss(), LN_VOCAB);
            err().flush();
            return EXIT_NOT_LEARNED;
        }
        return Peft4jCli.EXIT_OK;
    }

    private static TextCorpus loadCorpus(Settings s) throws IOException {
        if (s.data() != null) {
            return TextCorpus.fromFile(s.data(), s.maxLines());
        }
        return s.asciiOnly() ? TextCorpus.europarl(s.maxLines(), TextCorpus::isMostlyAscii) : TextCorpus.europarl(s.maxLines());
    }

    private void checkLongEnough(String part, int[] tokens, Settings s) {
        if (tokens.length < s.seqLen() + 1) {
            throw usageError("the " + part + " text has " + tokens.length + " bytes, fewer than --seq-len + 1 = " + (s.seqLen() + 1)
                    + "; raise --max-lines" + (part.equals("validation") ? " or --val-fraction" : "") + ", or lower --seq-len");
        }
    }

    /**
     * Greedy continuations of the first characters of a few validation lines: at each step the most likely next
     * byte, the context cut to the last {@code seqLen} bytes, stopping at a newline.
     */
    private static List<String> sample(Gpt2Model model, TextCorpus validation, Settings s) {
        ByteTokenizer tokenizer = new ByteTokenizer();
        List<String> samples = new ArrayList<>();
        for (String line : validation.lines().subList(0, Math.min(SAMPLES, validation.size()))) {
            String prompt = line.codePoints().limit(PROMPT_CHARS)
                    .collect(StringBuilder::new, StringBuilder::appendCodePoint, StringBuilder::append).toString();
            int[] ids = tokenizer.encode(prompt);
            int promptLength = ids.length;
            int length = ids.length;
            ids = Arrays.copyOf(ids, ids.length + s.sampleBytes());
            for (int i = 0; i < s.sampleBytes(); i++) {
                int contextStart = Math.max(0, length - s.seqLen());
                int[] context = Arrays.copyOfRange(ids, contextStart, length);
                int next;
                try (Tape tape = Tape.inference(model.kernels())) {
                    INDArray logits = model.forward(new TokenBatch(1, context.length, context, null, null), tape);   // [ctx, 256]
                    next = logits.getRow(context.length - 1).argMax().getInt(0);
                }
                if (next == ByteTokenizer.NEWLINE) {
                    break;
                }
                ids[length++] = next;
            }
            samples.add(prompt + " →" + tokenizer.decode(Arrays.copyOfRange(ids, promptLength, length)));
        }
        return samples;
    }

    private static ObjectNode summary(Settings s, ParamRegistry registry, TrainResult result, EvalResult initial, double seconds) {
        List<Double> losses = result.losses();
        int tail = Math.min(10, losses.size());
        double trainLoss = losses.subList(losses.size() - tail, losses.size()).stream().mapToDouble(Double::doubleValue).average()
                .orElse(Double.NaN);
        EvalResult last = result.finalEval();
        ObjectNode node = new ObjectMapper().createObjectNode();
        node.put("steps", result.steps());
        node.put("train_loss", round(trainLoss));
        node.put("eval_loss", round(last.loss()));
        node.put("eval_perplexity", round(Math.exp(last.loss())));
        node.put("ln_vocab", round(LN_VOCAB));
        node.put("initial_eval_loss", round(initial.loss()));
        node.put("eval_tokens", last.targets());
        node.put("params", registry.totalCount());
        node.put("train_tokens", result.tokens());
        node.put("train_seconds", round(result.elapsedNanos() / 1e9));
        node.put("total_seconds", round(seconds));
        node.put("out", s.out().toAbsolutePath().toString());
        return node;
    }

    /** Six decimals are plenty for a summary and keep the line short. */
    private static double round(double x) {
        return Double.isFinite(x) ? Math.round(x * 1e6) / 1e6 : x;
    }
}
