package org.peft4j.core.model.generate;

import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.model.CausalLm;
import org.peft4j.core.model.TokenBatch;
import org.peft4j.core.nn.KeyValueCache;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.nn.Workspaces;

/**
 * One sequence being decoded by a {@link CausalLm} with a {@link KeyValueCache}: the prompt is run once
 * (prefill), then each new token alone, attending to the cached keys and values of all before it. Every
 * pass runs on an inference tape inside the {@link Workspaces#EVAL} workspace, so its temporaries are
 * reset when it returns; only the cache (outside every workspace, grown by doubling) persists. Close the
 * session to free the cache.
 */
public final class DecodingSession implements AutoCloseable {
    private final CausalLm model;
    private final KeyValueCache cache = new KeyValueCache();

    /** A session with an empty cache. */
    public DecodingSession(CausalLm model) {
        this.model = java.util.Objects.requireNonNull(model, "model");
    }

    /** Number of positions run so far (the cache's length; includes virtual tokens hooks prepended). */
    public int length() {
        return cache.length();
    }

    /**
     * Runs {@code tokens} after those run so far and returns the logits that predict the token after the
     * last of them: {@code [vocab]}.
     */
    public double[] feed(int... tokens) {
        if (tokens == null || tokens.length == 0) {
            throw new IllegalArgumentException("feed needs at least one token");
        }
        try (MemoryWorkspace ws = Workspaces.open(Workspaces.EVAL); Tape tape = Tape.inference(model.kernels())) {
            INDArray logits = model.forward(new TokenBatch(1, tokens.length, tokens.clone(), null, null), cache, tape);   // [S, vocab]
            return logits.getRow(logits.rows() - 1).toDoubleVector();
        }
    }

    /** Frees the cache. */
    @Override
    public void close() {
        cache.close();
    }
}
