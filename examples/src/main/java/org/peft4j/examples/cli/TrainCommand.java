package org.peft4j.examples.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.nio.file.StandardCopyOption;
import java.util.Locale;
import java.util.Map;
import org.peft4j.core.data.ClassificationData;
import org.peft4j.core.data.JsonlDataset;
import org.peft4j.core.data.LabelSet;
import org.peft4j.core.io.AtomicFiles;
import org.peft4j.core.kernel.KernelChoice;
import org.peft4j.core.model.HfCheckpoint;
import org.peft4j.core.model.LoadOptions;
import org.peft4j.core.model.PretrainedModel;
import org.peft4j.core.model.TokenBatch;
import org.peft4j.core.param.ParamRegistry;
import org.peft4j.core.tokenizer.Tokenizer;
import org.peft4j.core.train.BatchSource;
import org.peft4j.core.train.EvalResult;
import org.peft4j.core.train.LearningRateSchedule.Decay;
import org.peft4j.core.train.LossCsvWriter;
import org.peft4j.core.train.ProgressLogger;
import org.peft4j.core.train.TrainResult;
import org.peft4j.core.train.TrainableTask;
import org.peft4j.core.train.Trainer;
import org.peft4j.core.train.TrainerConfig;
import org.peft4j.core.tuner.PeftConfig;
import org.peft4j.core.tuner.PeftMethods;
import org.peft4j.core.tuner.PeftModel;
import org.peft4j.core.tuner.TaskType;
import org.peft4j.lora.LoraConfig;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code peft4j train}: fine-tunes a model on a JSONL file and saves it; prints the final evaluation as
 * one JSON line last on stdout.
 */
@Command(name = "train", sortOptions = false, showDefaultValues = true,
        description = {"Fine-tune a model on JSONL data: {\"text\": ..., \"label\": ...} per line for classification,",
            "{\"text\": ...} for a causal LM. Logs progress, saves to --out (the model as an HF checkpoint with --method full,",
            "the adapter in HF PEFT's layout with any other --method; plus labels.json, tokenizer.json, loss.csv, metrics.json)",
            "and prints the final evaluation as one JSON line last:",
            "accuracy, f1, mcc for classification; loss and perplexity for a causal LM.",
            "PATH is an HF checkpoint directory, an .onnx file with config.json (and tokenizer.json) beside it,",
            "or builtin:all-MiniLM-L6-v2."})
public final class TrainCommand extends CliCommand {
    private static final Logger LOG = LoggerFactory.getLogger("org.peft4j.train");

    @Option(names = "--model", paramLabel = "PATH", required = true, description = "The model to fine-tune.")
    String model;

    @Option(names = "--task", paramLabel = "TASK", required = true, description = "classification or causal-lm.")
    String task;

    @Option(names = "--train", paramLabel = "FILE", required = true, description = "Training data (JSONL).")
    Path train;

    @Option(names = "--eval", paramLabel = "FILE", description = "Evaluation data (JSONL), evaluated before and after training.")
    Path eval;

    /** The --method values, in the order the help and the errors list them. */
    static final List<String> METHODS = List.of("full", "lora", "qlora", "adalora", "adapter", "bitfit", "prompt", "ptuning", "prefix", "ptuning-v2");

    /** The --method values for picocli's help ({@code ${COMPLETION-CANDIDATES}}). */
    static final class Methods implements Iterable<String> {
        @Override
        public java.util.Iterator<String> iterator() {
            return METHODS.iterator();
        }
    }

    @Option(names = "--method", paramLabel = "METHOD", defaultValue = "full", completionCandidates = Methods.class,
            description = "Fine-tuning method: ${COMPLETION-CANDIDATES}. qlora is lora over an NF4 base with double quantization (see "
                    + "--quantize); adapter means bottleneck adapters.")
    String method;

    @picocli.CommandLine.Mixin
    QuantizeOptions quantizeOptions = new QuantizeOptions();

    @Mixin
    AdaLoraOptions adalora;

    @Mixin
    PromptOptions prompt;

    @Mixin
    AdapterMethodOptions adapterOptions;

    @Option(names = "--config", paramLabel = "FILE",
            description = "The method's config as HF PEFT's adapter_config.json (e.g. {\"peft_type\":\"LORA\",\"r\":8,...}); overrides the --lora-* options.")
    Path methodConfig;

    @Option(names = "--lora-r", paramLabel = "N", defaultValue = "8", description = "LoRA rank r.")
    int loraR;

    @Option(names = "--lora-alpha", paramLabel = "X", defaultValue = "16", description = "LoRA alpha (scaling alpha/r).")
    double loraAlpha;

    @Option(names = "--lora-dropout", paramLabel = "P", defaultValue = "0.1", description = "Dropout on the LoRA input.")
    double loraDropout;

    @Option(names = "--target-modules", paramLabel = "NAMES", split = ",",
            description = "Modules LoRA wraps: names or suffixes, or all-linear; default: the architecture's (bert: query,value).")
    java.util.List<String> targetModules;

    @Option(names = "--use-rslora", description = "Scale by alpha/sqrt(r) (rsLoRA).")
    boolean useRslora;

    @Option(names = "--use-dora", description = "Weight-decomposed LoRA (DoRA).")
    boolean useDora;

    @Option(names = "--epochs", paramLabel = "N", defaultValue = "3", description = "Passes over the training data.")
    int epochs;

    @Option(names = "--max-steps", paramLabel = "N", defaultValue = "0", description = "Stop after this many steps; 0 = all epochs.")
    int maxSteps;

    @Option(names = "--lr", paramLabel = "X", defaultValue = "5e-5", description = "Peak learning rate (AdamW).")
    double lr;

    @Option(names = "--weight-decay", paramLabel = "X", defaultValue = "0.01", description = "Decoupled weight decay on matrices.")
    double weightDecay;

    @Option(names = "--warmup-ratio", paramLabel = "X", defaultValue = "0.06", description = "Share of the steps with linear warmup.")
    double warmupRatio;

    @Option(names = "--batch-size", paramLabel = "N", defaultValue = "32", description = "Examples per step.")
    int batchSize;

    @Option(names = "--max-length", paramLabel = "N", defaultValue = "64", description = "Tokens per example at most (longer are cut).")
    int maxLength;

    @Option(names = "--seed", paramLabel = "N", defaultValue = "42", description = "Seed of the data order, dropout and a new head.")
    long seed;

    @Option(names = "--eval-every", paramLabel = "N", defaultValue = "0", description = "Evaluate every this many steps; 0 = after training.")
    int evalEvery;

    @Option(names = "--log-every", paramLabel = "N", defaultValue = "20", description = "Log progress every this many steps.")
    int logEvery;

    @Option(names = "--save-every", paramLabel = "N", defaultValue = "0",
            description = "Write a training checkpoint (params, optimizer state, step) to OUT/checkpoints every this many steps; 0 = none.")
    int saveEvery;

    @Option(names = "--resume", paramLabel = "DIR",
            description = "Continue an interrupted run from its newest checkpoint: the run's --out, its checkpoints directory or one checkpoint. "
                    + "Give the same model, data and options as the first time.")
    Path resume;

    @Option(names = "--skip-nonfinite", description = "Skip (and count) steps whose loss or gradient is NaN or infinite instead of stopping.")
    boolean skipNonFinite;

    @Option(names = "--tokenizer", paramLabel = "FILE", description = "An HF tokenizer.json, if none is beside the model.")
    Path tokenizerFile;

    @Option(names = "--kernels", paramLabel = "KIND", defaultValue = "auto", description = "auto, portable or cpu.")
    String kernels;

    @Option(names = "--out", paramLabel = "DIR", required = true, description = "Where to save the fine-tuned model.")
    Path out;

    @Override
    public Integer call() throws Exception {
        TaskKind kind = parse(() -> TaskKind.parse(task));
        KernelChoice kernelChoice = parse(() -> KernelChoice.parse(kernels));
        if (!METHODS.contains(method)) {
            String allowed = String.join(", ", METHODS.subList(0, METHODS.size() - 1)) + " or " + METHODS.get(METHODS.size() - 1);
            throw usageError("--method must be " + allowed + ", got '" + method + "'");
        }
        if (methodConfig != null && method.equals("full")) {
            throw usageError("--config describes a method's adapter; use it with any --method but full");
        }
        if (method.equals("full") && quantizeOptions.requested()) {
            throw usageError("--quantize freezes the base in a quantized form; use it with --method lora or qlora, not full");
        }
        checkPositive("--epochs", epochs);
        checkPositive("--batch-size", batchSize);
        checkPositive("--max-length", maxLength);
        checkPositive("--log-every", logEvery);
        if (saveEvery < 0) {
            throw usageError("--save-every must be >= 0 (0 = no checkpoints), got " + saveEvery);
        }
        if (resume != null && !Files.isDirectory(resume)) {
            throw usageError("--resume: no such directory: " + resume);
        }
        if (maxSteps < 0 || evalEvery < 0) {
            throw usageError("--max-steps and --eval-every must be >= 0");
        }
        if (!(warmupRatio >= 0 && warmupRatio < 1)) {
            throw usageError("--warmup-ratio must be in [0, 1), got " + warmupRatio);
        }
        requireFile("--train", train);
        if (eval != null) {
            requireFile("--eval", eval);
        }
        long start = System.nanoTime();

        ClassificationData trainData = kind == TaskKind.CLASSIFICATION ? TaskSetup.classificationData(train, null) : null;
        LabelSet labels = trainData == null ? null : trainData.labelSet();
        LoadOptions described = TaskSetup.loadOptions(model, kind, labels == null ? 0 : labels.size(), seed);
        LoadOptions options = new LoadOptions(described.dataType(), kernelChoice, described.head(), described.numLabels(), seed);
        PretrainedModel loaded = QuantizeOptions.apply(ModelLoader.load(model, options),
                quantizeOptions.quantization(method.equals("qlora") ? org.peft4j.quant.Quantization.qlora() : null));
        PeftModel<PretrainedModel> peft = null;
        TrainableTask<TokenBatch> trainable = TaskSetup.task(loaded, kind, model);
        if (method.equals("full")) {
            new ParamRegistry(loaded.module()).unfreezeAll();
        } else {
            peft = PeftModel.builder(loaded).adapter("default", adapterConfig(kind)).seed(seed).baseModelName(baseModelName(model)).build();
            trainable = peft.trainableTask(trainable);
        }
        ParamRegistry registry = new ParamRegistry(loaded.module());
        LOG.info("{} ({}), {}; {}", loaded.module().describe(), loaded.modelType(), method, registry.summary());

        BatchSource<TokenBatch> trainBatches;
        BatchSource<TokenBatch> evalBatches = null;
        try (Tokenizer tokenizer = ModelLoader.tokenizer(model, tokenizerFile)) {
            if (kind == TaskKind.CLASSIFICATION) {
                trainBatches = TaskSetup.classificationBatches(trainData, tokenizer, maxLength, batchSize, seed);
                if (eval != null) {
                    evalBatches = TaskSetup.classificationBatches(TaskSetup.classificationData(eval, labels), tokenizer, maxLength, batchSize,
                            null);
                }
            } else {
                trainBatches = TaskSetup.causalLmBatches(JsonlDataset.texts(train), tokenizer, maxLength, batchSize, seed);
                if (eval != null) {
                    evalBatches = TaskSetup.causalLmBatches(JsonlDataset.texts(eval), tokenizer, maxLength, batchSize, null);
                }
            }
        }

        EvalResult before = evalBatches == null ? null : Trainer.evaluate(trainable, evalBatches);
        if (before != null) {
            LOG.info("eval before training: {}", metricsText(before));
        }
        TrainerConfig.Builder config = TrainerConfig.builder().adamW(lr, weightDecay).decay(Decay.LINEAR).epochs(epochs).maxSteps(maxSteps)
                .evalEvery(evalEvery).seed(seed).listener(new ProgressLogger(logEvery));
        int totalSteps = config.build().totalSteps(trainBatches.batchesPerEpoch());
        config.warmupSteps((int) Math.round(warmupRatio * totalSteps)).skipNonFiniteSteps(skipNonFinite);
        if (saveEvery > 0) {
            config.checkpoints(out.resolve(CHECKPOINTS), saveEvery);
        }
        if (resume != null) {
            config.resumeFrom(Files.isDirectory(resume.resolve(CHECKPOINTS)) ? resume.resolve(CHECKPOINTS) : resume);
        }
        Files.createDirectories(out);
        TrainResult result;
        try (LossCsvWriter csv = new LossCsvWriter(out.resolve("loss.csv"))) {
            result = new Trainer(config.listener(csv).build()).fit(trainable, trainBatches, evalBatches);
        }

        if (peft == null) {
            HfCheckpoint.save(loaded, out);
        } else {
            peft.save(out);
        }
        if (labels != null) {
            labels.save(out.resolve(LabelSet.FILE_NAME));
        }
        Path tokenizerSource = ModelLoader.tokenizerFile(model, tokenizerFile);
        if (tokenizerSource != null) {
            Files.copy(tokenizerSource, out.resolve(ModelLoader.TOKENIZER_FILE), StandardCopyOption.REPLACE_EXISTING);
        }
        double seconds = result.elapsedNanos() / 1e9;
        double epochsDone = (double) result.steps() * batchSize / Math.max(1, trainBatchesExamples(trainBatches));
        // a resumed run timed only the steps after its checkpoint
        double epochsRun = (double) (result.losses().size() + result.skippedSteps()) * batchSize / Math.max(1, trainBatchesExamples(trainBatches));
        ObjectNode summary = new ObjectMapper().createObjectNode();
        summary.put("task", kind.toString());
        summary.put("method", method);
        summary.put("model", model);
        summary.put("steps", result.steps());
        summary.put("epochs", Math.round(epochsDone * 100) / 100.0);
        summary.put("trainable_params", registry.trainableCount());
        summary.put("params", registry.totalCount());
        summary.put("trainable_percent", Math.round(10000.0 * registry.trainableCount() / registry.totalCount()) / 100.0);
        summary.put("train_loss", result.lastLoss());
        if (result.skippedSteps() > 0) {
            summary.put("skipped_steps", result.skippedSteps());
        }
        if (before != null) {
            putMetrics(summary, "before_", before);
        }
        if (result.finalEval() != null) {
            putMetrics(summary, "", result.finalEval());
        }
        summary.put("train_seconds", Math.round(seconds * 10) / 10.0);
        summary.put("seconds_per_epoch", Math.round(seconds / Math.max(epochsRun, 1e-9) * 10) / 10.0);
        summary.put("out", out.toString());
        AtomicFiles.writeString(out.resolve("metrics.json"), new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsString(summary) + "\n");
        LOG.info("saved to {} in {} s", out, Math.round((System.nanoTime() - start) / 1e9));
        out().println(new ObjectMapper().writeValueAsString(summary));
        out().flush();
        return Peft4jCli.EXIT_OK;
    }

    /** The LoRA config: --config (any method's adapter_config.json) or the --lora-* options, with the task's type. */
    private PeftConfig adapterConfig(TaskKind kind) throws java.io.IOException {
        TaskType taskType = kind == TaskKind.CLASSIFICATION ? TaskType.SEQ_CLS : TaskType.CAUSAL_LM;
        if (methodConfig != null) {
            com.fasterxml.jackson.databind.JsonNode json = org.peft4j.core.io.StrictJson.read(methodConfig,
                    (problem, cause) -> usageError("--config " + methodConfig + " is " + problem));
            if (!json.isObject() || !json.hasNonNull("peft_type")) {
                throw usageError("--config " + methodConfig + " must be a JSON object with a peft_type, like HF PEFT's adapter_config.json");
            }
            com.fasterxml.jackson.databind.node.ObjectNode withTask = ((com.fasterxml.jackson.databind.node.ObjectNode) json).deepCopy();
            if (!withTask.hasNonNull("task_type")) {
                withTask.put("task_type", taskType.name());
            }
            return PeftMethods.load().byPeftType(withTask.get("peft_type").asText()).configFromHfJson(withTask);
        }
        if (method.equals("adalora")) {
            try {
                return adalora.config(taskType, loraAlpha, loraDropout, targetModules);
            } catch (IllegalArgumentException e) {
                throw usageError("AdaLoRA options: " + e.getMessage());
            }
        }
        if (PromptOptions.handles(method)) {
            try (Tokenizer tokenizer = ModelLoader.tokenizer(model, tokenizerFile)) {
                // HF's tokenizer_name_or_path: where AutoTokenizer finds the tokenizer (--tokenizer's directory, else the model)
                String tokenizerName = tokenizerFile == null ? baseModelName(model)
                        : (Files.isDirectory(tokenizerFile) ? tokenizerFile : tokenizerFile.toAbsolutePath().getParent()).toString();
                return prompt.config(method, taskType, tokenizerName, tokenizer);
            } catch (IllegalArgumentException e) {
                throw usageError("--method " + method + ": " + e.getMessage());
            }
        }
        if (AdapterMethodOptions.handles(method)) {
            try {
                return adapterOptions.config(method, taskType, targetModules);
            } catch (IllegalArgumentException e) {
                throw usageError(method + " options: " + e.getMessage());
            }
        }
        try {
            LoraConfig.Builder b = LoraConfig.builder().r(loraR).loraAlpha(loraAlpha).loraDropout(loraDropout).useRslora(useRslora)
                    .useDora(useDora).taskType(taskType);
            if (targetModules != null && !targetModules.isEmpty()) {
                if (targetModules.size() == 1 && targetModules.get(0).equals("all-linear")) {
                    b.allLinear();
                } else {
                    b.targetModules(targetModules.toArray(new String[0]));
                }
            }
            return b.build();
        } catch (IllegalArgumentException e) {
            throw usageError("LoRA options: " + e.getMessage());
        }
    }

    /** The folder under --out where --save-every writes training checkpoints. */
    static final String CHECKPOINTS = "checkpoints";

    /** HF's name of a builtin model, for base_model_name_or_path; other paths as given. */
    static String baseModelName(String model) {
        return model.equals(org.peft4j.core.model.Builtins.ALL_MINILM_L6_V2) ? "sentence-transformers/all-MiniLM-L6-v2" : model;
    }

    private static long trainBatchesExamples(BatchSource<TokenBatch> batches) {
        long n = 0;
        for (int i = 0; i < batches.batchesPerEpoch(); i++) {
            n += batches.batch(0, i).batch();
        }
        return n;
    }

    /** Adds loss and task metrics with a prefix, e.g. before_accuracy. */
    static void putMetrics(ObjectNode node, String prefix, EvalResult r) {
        node.put(prefix + "eval_loss", r.loss());
        for (Map.Entry<String, Double> e : r.metrics().entrySet()) {
            node.put(prefix + e.getKey(), e.getValue());
        }
    }

    static String metricsText(EvalResult r) {
        StringBuilder sb = new StringBuilder(String.format(Locale.ROOT, "loss %.4f", r.loss()));
        r.metrics().forEach((k, v) -> sb.append(String.format(Locale.ROOT, ", %s %.4f", k, v)));
        return sb.toString();
    }

    private void checkPositive(String option, int value) {
        if (value <= 0) {
            throw usageError(option + " must be > 0, got " + value);
        }
    }

    private void requireFile(String option, Path file) {
        if (!Files.isRegularFile(file)) {
            throw usageError(option + ": no such file: " + file);
        }
    }

    private <T> T parse(java.util.function.Supplier<T> parser) {
        try {
            return parser.get();
        } catch (IllegalArgumentException e) {
            throw usageError(e.getMessage());
        }
    }
}
