package org.peft4j.prompt;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.kernel.Kernels;
import org.peft4j.core.nn.Embedding;
import org.peft4j.core.nn.Init;
import org.peft4j.core.nn.Layer;
import org.peft4j.core.nn.Linear;
import org.peft4j.core.nn.Module;
import org.peft4j.core.nn.Slot;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.param.Param;

/**
 * The prompt of n virtual tokens as HF PEFT's prompt encoders compute it: a table {@code embedding.weight
 * [n, width]}, optionally followed by encoder layers applied to the whole table as one sequence (P-Tuning's
 * MLP or LSTM, Prefix Tuning's projection). Output {@code [n, outWidth]}. Children: {@code embedding}, then
 * the encoder layers under their HF names ({@code lstm_head}, {@code mlp_head}, {@code transform}).
 */
public final class PromptTable extends Module {
    private final Slot<Embedding> embedding;
    private final List<Slot<Layer>> encoder = new ArrayList<>();
    private final int[] positions;

    /**
     * @param table   the embedding table {@code [n, width]}
     * @param encoder named layers applied to the table in order (empty: the table is the prompt)
     */
    public PromptTable(Param table, Map<String, ? extends Layer> encoder) {
        if (table.shape().length != 2) {
            throw new IllegalArgumentException("a prompt table is [num_virtual_tokens, width], got " + java.util.Arrays.toString(table.shape()));
        }
        this.embedding = child("embedding", Embedding.class, new Embedding(table));
        encoder.forEach((name, layer) -> this.encoder.add(child(name, Layer.class, layer)));
        this.positions = new int[(int) table.shape()[0]];
        for (int i = 0; i < positions.length; i++) {
            positions[i] = i;
        }
    }

    /** The table param {@code embedding.weight}. */
    public Param table() {
        return embedding.get().weight();
    }

    /** Number of virtual tokens n. */
    public int length() {
        return positions.length;
    }

    /** True if encoder layers follow the table. */
    public boolean hasEncoder() {
        return !encoder.isEmpty();
    }

    /** The prompt {@code [n, outWidth]}; saves for backward when the tape records. */
    public INDArray forward(Tape tape) {
        INDArray x = embedding.get().forward(positions, tape);
        for (Slot<Layer> layer : encoder) {
            x = layer.get().forward(x, tape);
        }
        return x;
    }

    /** Adds the gradients of the table and encoder for dL/d(prompt). */
    public void backward(INDArray gradPrompt, Tape tape) {
        INDArray g = gradPrompt;
        for (int i = encoder.size() - 1; i >= 0; i--) {
            g = encoder.get(i).get().backward(g, tape);
        }
        embedding.get().backward(g, tape);
    }

    /** The prompt computed without recording, as a new array (what HF saves as {@code prompt_embeddings}). */
    public INDArray evaluate(Kernels kernels) {
        try (Tape tape = Tape.inference(kernels)) {
            return forward(tape).dup('c');
        }
    }

    /** HF's torch {@code nn.Embedding} initialisation: N(0, 1). */
    public static Param normalTable(String owner, int n, int width, DataType type, SplittableRandom rng) {
        return Param.owned("weight", owner, Init.normal(type, 1.0, rng, n, width), true);
    }

    /** torch's {@code nn.Linear} initialisation: weight {@code [out, in]} and bias from U(−1/√in, 1/√in). */
    public static Linear torchLinear(String owner, int in, int out, DataType type, SplittableRandom rng) {
        double bound = 1.0 / Math.sqrt(in);
        Param w = Param.owned("weight", owner, Init.uniform(type, bound, rng, out, in), true);
        Param b = Param.owned("bias", owner, Init.uniform(type, bound, rng, out), true);
        return new Linear(w, b, Linear.WeightLayout.OUT_IN);
    }

    /** An ordered map of one entry. */
    public static Map<String, Layer> named(String name, Layer layer) {
        Map<String, Layer> m = new LinkedHashMap<>();
        m.put(name, layer);
        return m;
    }

    @Override
    public String describe() {
        return "PromptTable(n=" + positions.length + ", width=" + table().shape()[1] + (encoder.isEmpty() ? "" : ", encoder") + ")";
    }
}
