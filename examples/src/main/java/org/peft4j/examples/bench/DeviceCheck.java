package org.peft4j.examples.bench;

import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.peft4j.core.kernel.KernelChoice;
import org.peft4j.core.model.Builtins;
import org.peft4j.core.model.LoadOptions;
import org.peft4j.core.model.ModelHead;
import org.peft4j.core.model.TextEncoder;
import org.peft4j.core.model.TokenBatch;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.nn.Workspaces;
import org.peft4j.core.param.ParamRegistry;
import org.peft4j.core.param.ParamRegistry.NamedParam;
import org.peft4j.core.tuner.PeftModel;
import org.peft4j.core.tuner.TaskType;
import org.peft4j.lora.LoraConfig;
import org.peft4j.lora.LoraInit;
import org.peft4j.quant.Blockwise4Bit;
import org.peft4j.quant.QuantType;
import org.peft4j.quant.Quantization;

/**
 * The checks of {@code scripts/gpu-check.sh}: outputs that one backend computes and another must
 * reproduce (all-MiniLM-L6-v2's hidden states, with a LoRA adapter, over an NF4 base, and the gradients
 * of a LoRA step), plus the checks a backend makes on itself (a merged adapter against the unmerged
 * one, the portable NF4 dequantization against the plain-Java one). The CPU run saves its outputs; the
 * GPU run recomputes them and compares. Every input is fixed or seeded, so two runs see the same numbers.
 */
public final class DeviceCheck {
    /** Three token sequences of all-MiniLM-L6-v2's vocabulary, the last two padded. */
    private static final int[][] SENTENCES = {
        {101, 1996, 4937, 2938, 2006, 1996, 13523, 1012, 102},
        {101, 2023, 2003, 1037, 3231, 1012, 102},
        {101, 7592, 2088, 102},
    };

    /**
     * One comparison: the largest absolute difference divided by the largest absolute expected value
     * (float32 results of different summation orders differ in proportion to their size), against the
     * bound it may reach.
     */
    public record Row(String check, double relativeDiff, double tolerance) {
        public boolean passed() {
            return relativeDiff <= tolerance;                               // NaN fails
        }
    }

    private final KernelChoice kernels;

    public DeviceCheck(KernelChoice kernels) {
        this.kernels = kernels;
    }

    /** What a backend computes and another must reproduce, by name (float32, host copies). */
    public Map<String, INDArray> outputs() throws IOException {
        Map<String, INDArray> out = new LinkedHashMap<>();
        out.put("minilm.hidden", hidden(minilm()));
        TextEncoder withLora = minilm();
        PeftModel<TextEncoder> peft = withRandomLora(withLora);
        out.put("minilm_lora.hidden", hidden(withLora));
        peft.merge();
        out.put("minilm_lora_merged.hidden", hidden(withLora));
        TextEncoder nf4 = minilm();
        Quantization.qlora().apply(nf4);
        out.put("minilm_nf4.hidden", hidden(nf4));
        out.put("lora_step.gradients", loraStepGradients());
        return out;
    }

    /** The checks this backend makes on itself: its merged adapter and its portable dequantization. */
    public List<Row> selfChecks(Map<String, INDArray> outputs) {
        List<Row> rows = new ArrayList<>();
        rows.add(new Row("merged LoRA = unmerged LoRA (this backend)",
                relativeDiff(outputs.get("minilm_lora_merged.hidden"), outputs.get("minilm_lora.hidden")), 1e-5));
        rows.add(new Row("NF4 dequantization: ND4J ops = plain Java (this backend)", dequantizationGap(), 0.0));
        return rows;
    }

    /** Each output against the same output of the reference backend. */
    public static List<Row> compare(Map<String, INDArray> outputs, Map<String, INDArray> reference) {
        List<Row> rows = new ArrayList<>();
        for (Map.Entry<String, INDArray> e : outputs.entrySet()) {
            INDArray expected = reference.get(e.getKey());
            if (expected == null) {
                throw new IllegalArgumentException("the reference has no '" + e.getKey() + "'; it has " + reference.keySet()
                        + " (make it again with 'peft4j bench device-check --save' from this version)");
            }
            if (!java.util.Arrays.equals(expected.shape(), e.getValue().shape())) {
                throw new IllegalArgumentException("the reference's '" + e.getKey() + "' has shape " + java.util.Arrays.toString(expected.shape())
                        + ", this run's " + java.util.Arrays.toString(e.getValue().shape()));
            }
            // gradients pass through twice the ops of a forward pass: a looser bound
            rows.add(new Row(e.getKey() + " = reference", relativeDiff(e.getValue(), expected), e.getKey().startsWith("lora_step") ? 1e-3 : 1e-4));
        }
        return rows;
    }

    private TextEncoder minilm() throws IOException {
        LoadOptions options = new LoadOptions(DataType.FLOAT, kernels, ModelHead.BASE, 0, 42);
        return (TextEncoder) Builtins.resolve(Builtins.ALL_MINILM_L6_V2).load(options);
    }

    /** LoRA r 8 on query and value with A and B both random (HF's init_lora_weights=false), so it changes the output. */
    private static PeftModel<TextEncoder> withRandomLora(TextEncoder model) {
        LoraConfig lora = LoraConfig.builder().r(8).loraAlpha(16).targetModules("query", "value")
                .initLoraWeights(LoraInit.RANDOM).taskType(TaskType.FEATURE_EXTRACTION).build();
        return PeftModel.builder(model).adapter("default", lora).seed(5).build();
    }

    private static INDArray hidden(TextEncoder model) {
        try (MemoryWorkspace ws = Workspaces.open(Workspaces.EVAL); Tape tape = Tape.inference(model.kernels())) {
            return model.forward(paddedSentences(), tape).detach().castTo(DataType.FLOAT);
        }
    }

    private static TokenBatch paddedSentences() {
        int seq = SENTENCES[0].length;
        int[] ids = new int[SENTENCES.length * seq];
        int[] mask = new int[ids.length];
        for (int b = 0; b < SENTENCES.length; b++) {
            for (int t = 0; t < SENTENCES[b].length; t++) {
                ids[b * seq + t] = SENTENCES[b][t];
                mask[b * seq + t] = 1;
            }
        }
        return new TokenBatch(SENTENCES.length, seq, ids, mask, null);
    }

    /** The gradients of every LoRA param after one forward and backward of the MiniLM-shaped benchmark model (batch 4, seq 32). */
    private INDArray loraStepGradients() {
        Workload.Spec spec = new Workload.Spec(30522, 384, 6, 12, 32, 4, 0, 1, 1, kernels);
        Workload w = Workload.bert(spec, Workload.Setup.LORA);
        List<NamedParam> trainable = new ParamRegistry(w.model().module()).trainable();
        try (MemoryWorkspace ws = Workspaces.open(Workspaces.TRAIN); Tape tape = Tape.training(w.task().kernels(), 0)) {
            w.task().forward(w.batch(), tape);
            w.task().backward(tape, 1.0);
        }
        INDArray[] flat = trainable.stream().map(np -> np.param().grad().reshape(-1).castTo(DataType.FLOAT)).toArray(INDArray[]::new);
        return Nd4j.concat(0, flat);
    }

    /** Largest difference between NF4's plain-Java and ND4J-op dequantization of a seeded 384 × 1536 weight. */
    private static double dequantizationGap() {
        int rows = 384;
        int columns = 1536;
        float[] values = new float[rows * columns];
        SplittableRandom rng = new SplittableRandom(11);
        for (int i = 0; i < values.length; i++) {
            values[i] = (float) (rng.nextGaussian() * 0.05);
        }
        Blockwise4Bit q = Blockwise4Bit.quantize(values, rows, columns, QuantType.NF4, 64, true);
        float[] java = new float[rows * columns];
        q.dequantize(0, rows, java);
        INDArray nd4j = q.dequantizeNd4j(0, rows).castTo(DataType.FLOAT);
        return relativeDiff(nd4j.reshape(rows, columns), Nd4j.createFromArray(java).reshape(rows, columns));
    }

    /** max |actual − expected| / max |expected|. */
    static double relativeDiff(INDArray actual, INDArray expected) {
        INDArray e = expected.castTo(DataType.DOUBLE);
        double diff = actual.castTo(DataType.DOUBLE).sub(e).amaxNumber().doubleValue();
        return diff / Math.max(Double.MIN_NORMAL, e.amaxNumber().doubleValue());
    }
}
