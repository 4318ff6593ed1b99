package org.peft4j.examples.cli;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.peft4j.core.model.CausalLm;
import org.peft4j.core.model.PretrainedModel;
import org.peft4j.core.model.SequenceClassifier;
import org.peft4j.core.model.TextEncoder;
import org.peft4j.core.model.TokenBatch;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.nn.Workspaces;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code peft4j logits}: runs a model on token ids and prints its raw output as one JSON object
 * {@code {"shape":[B,T,N],"data":[...]}}, fp32, row-major: next-token logits of a causal LM (N = vocab) or
 * the last hidden state of an encoder (N = hidden size).
 */
@Command(name = "logits", sortOptions = false,
        description = {"Run a model on token ids and print {\"shape\":[B,T,N],\"data\":[...]} (fp32, row-major):",
            "the logits of a causal LM (N = vocab size), the last hidden state of an encoder (N = hidden size), or the",
            "label logits of a sequence classifier (T = 1, N = labels).",
            "Sequences shorter than the longest are padded on the right and masked; their padded rows are not meaningful."})
public final class LogitsCommand extends CliCommand {
    @Option(names = "--model", paramLabel = "PATH", required = true, description = "The model.")
    String model;

    @Option(names = "--adapter", paramLabel = "DIR", description = "An adapter (HF PEFT's layout) applied to the model, unmerged.")
    java.nio.file.Path adapter;

    @picocli.CommandLine.Mixin
    QuantizeOptions quantizeOptions = new QuantizeOptions();

    @Option(names = "--ids", paramLabel = "IDS", required = true, description = "Token ids: comma-separated, one sequence per ';', e.g. \"1,2,3;4,5,6\".")
    String ids;

    @Override
    public Integer call() throws Exception {
        int[][] sequences = parseIds(ids);
        org.peft4j.quant.Quantization quantization = quantizeOptions.quantization(null);
        PretrainedModel loaded = adapter == null ? QuantizeOptions.apply(ModelLoader.load(model, ModelLoader.describedOptions(model)), quantization)
                : AdapterSupport.load(model, adapter, ModelLoader.describedOptions(model), quantization).base();
        TokenBatch batch = pad(sequences);
        INDArray output;
        int[] tokenRows;
        try (MemoryWorkspace ws = Workspaces.open(Workspaces.EVAL); Tape tape = Tape.inference(loaded.kernels())) {
            if (loaded instanceof CausalLm lm) {
                checkIds(sequences, lm.vocabSize());
                output = lm.forward(batch, tape).detach();
            } else if (loaded instanceof TextEncoder encoder) {
                output = encoder.forward(batch, tape).detach();
            } else if (loaded instanceof SequenceClassifier classifier) {
                output = classifier.forward(batch, tape).detach();
            } else {
                throw new IllegalArgumentException("--model " + model + ": a " + loaded.modelType() + " model with neither next-token logits nor a hidden state");
            }
            tokenRows = tape.context().inputRows();
        }
        output = givenTokens(output, batch, tokenRows);
        long width = output.columns();
        long rowsPerSequence = output.rows() / batch.batch();                   // seqLen, or 1 for a sequence classifier
        StringBuilder sb = new StringBuilder(64 + (int) output.length() * 12);
        sb.append("{\"shape\":[").append(batch.batch()).append(',').append(rowsPerSequence).append(',').append(width).append("],\"data\":[");
        float[] values = output.data().asFloat();
        for (int i = 0; i < values.length; i++) {
            if (i > 0) {
                sb.append(',');
            }
            sb.append(Float.isFinite(values[i]) ? Float.toString(values[i]) : "null");
        }
        sb.append("]}");
        out().println(sb);
        out().flush();
        return Peft4jCli.EXIT_OK;
    }

    /**
     * The rows of the given tokens: a prompt adapter's virtual tokens (rows placed before or among each sequence's
     * tokens) are dropped, so every row belongs to a given token, in the given order.
     *
     * @param tokenRows the row of each given token within its sequence {@code [batch·T]}, as the pass's context records it
     */
    static INDArray givenTokens(INDArray output, TokenBatch batch, int[] tokenRows) {
        long perSequence = output.rows() / batch.batch();
        if (perSequence <= batch.seqLen()) {
            return output;
        }
        int[] rows = new int[tokenRows.length];
        for (int i = 0; i < rows.length; i++) {
            rows[i] = (int) (i / batch.seqLen() * perSequence) + tokenRows[i];
        }
        return Nd4j.pullRows(output, 1, rows, 'c');
    }

    /** "1,2,3;4,5" → {{1,2,3},{4,5}}; errors name the offending piece. */
    int[][] parseIds(String text) {
        List<int[]> out = new ArrayList<>();
        String[] sequences = text.split(";", -1);
        for (int s = 0; s < sequences.length; s++) {
            String seq = sequences[s].trim();
            if (seq.isEmpty()) {
                throw usageError("--ids: sequence " + (s + 1) + " is empty; give comma-separated token ids, sequences separated by ';'");
            }
            String[] parts = seq.split(",", -1);
            int[] row = new int[parts.length];
            for (int i = 0; i < parts.length; i++) {
                try {
                    row[i] = Integer.parseInt(parts[i].trim());
                } catch (NumberFormatException e) {
                    throw usageError("--ids: '" + parts[i].trim() + "' in sequence " + (s + 1) + " is not a token id (a non-negative integer)");
                }
                if (row[i] < 0) {
                    throw usageError("--ids: token id " + row[i] + " in sequence " + (s + 1) + " is negative");
                }
            }
            out.add(row);
        }
        return out.toArray(new int[0][]);
    }

    private void checkIds(int[][] sequences, int vocab) {
        for (int s = 0; s < sequences.length; s++) {
            for (int id : sequences[s]) {
                if (id >= vocab) {
                    throw usageError(String.format(Locale.ROOT, "--ids: token id %d in sequence %d is outside the vocabulary [0, %d)", id, s + 1, vocab));
                }
            }
        }
    }

    /** Right-pads to the longest sequence with id 0 and a mask; no mask when all have one length. */
    static TokenBatch pad(int[][] sequences) {
        int longest = 0;
        for (int[] s : sequences) {
            longest = Math.max(longest, s.length);
        }
        int[] flat = new int[sequences.length * longest];
        int[] mask = new int[flat.length];
        boolean padded = false;
        for (int b = 0; b < sequences.length; b++) {
            System.arraycopy(sequences[b], 0, flat, b * longest, sequences[b].length);
            java.util.Arrays.fill(mask, b * longest, b * longest + sequences[b].length, 1);
            padded |= sequences[b].length < longest;
        }
        return new TokenBatch(sequences.length, longest, flat, padded ? mask : null, null);
    }
}
