package org.peft4j.core.nn;

import java.util.ArrayDeque;
import java.util.Deque;
import java.util.SplittableRandom;
import org.peft4j.core.kernel.Kernels;

/**
 * The state of one forward pass and its backward: which kernels run, whether dropout is active, the
 * sequence geometry, and the stack of what each module saved for its backward.
 *
 * <p>Saved entries are popped in reverse order of pushing, and each pop names its owner, so a module
 * that skipped or repeated a step fails loudly instead of reading another module's activations. A tape
 * that does not record (inference, or blocks below the first trainable one) saves nothing.
 */
public final class Tape implements AutoCloseable {
    private final Kernels kernels;
    private final boolean training;
    private final long dropoutSeed;
    private long dropoutCalls;
    private boolean recording;
    private SequenceContext context;
    private final Deque<Entry> stack = new ArrayDeque<>();

    private record Entry(Object owner, Object saved) {
    }

    private Tape(Kernels kernels, boolean training, boolean recording, long dropoutSeed) {
        this.kernels = kernels;
        this.training = training;
        this.recording = recording;
        this.dropoutSeed = dropoutSeed;
    }

    /** A tape for a training pass: records for backward and applies dropout seeded by {@code dropoutSeed}. */
    public static Tape training(Kernels kernels, long dropoutSeed) {
        return new Tape(kernels, true, true, dropoutSeed);
    }

    /** A tape for inference: no dropout, nothing recorded. */
    public static Tape inference(Kernels kernels) {
        return new Tape(kernels, false, false, 0L);
    }

    /** A tape that records for backward but applies no dropout (gradient checks, eval with gradients). */
    public static Tape recordingWithoutDropout(Kernels kernels) {
        return new Tape(kernels, false, true, 0L);
    }

    public Kernels kernels() {
        return kernels;
    }

    /** True if dropout is active. */
    public boolean isTraining() {
        return training;
    }

    /** True if forward passes save activations for backward. */
    public boolean isRecording() {
        return recording;
    }

    /** Stops recording until the returned scope is closed (for modules whose backward is never needed). */
    public Scope pauseRecording() {
        boolean before = recording;
        recording = false;
        return () -> recording = before;
    }

    /** A scope that restores the tape's recording state on close. */
    public interface Scope extends AutoCloseable {
        @Override
        void close();
    }

    public SequenceContext context() {
        if (context == null) {
            throw new IllegalStateException("no sequence context: the model sets it at the start of its forward pass");
        }
        return context;
    }

    public void setContext(SequenceContext context) {
        this.context = context;
    }

    /** Saves {@code saved} for {@code owner}'s backward; does nothing when not recording. */
    public void push(Object owner, Object saved) {
        if (recording) {
            stack.push(new Entry(owner, saved));
        }
    }

    /** Pops what {@code owner} saved last; fails if the top of the stack belongs to someone else. */
    public <T> T pop(Object owner, Class<T> type) {
        Entry top = stack.poll();
        if (top == null) {
            throw new IllegalStateException("backward of " + owner.getClass().getSimpleName()
                    + " found nothing saved: was forward run on a recording tape?");
        }
        if (top.owner() != owner) {
            throw new IllegalStateException("backward order broken: " + owner.getClass().getSimpleName()
                    + " expected its own saved state but found that of " + top.owner().getClass().getSimpleName());
        }
        return type.cast(top.saved());
    }

    /** Number of saved entries not yet popped. */
    public int depth() {
        return stack.size();
    }

    /**
     * A fresh generator for one dropout call. Generators are derived from the seed and the call count,
     * so a pass with the same seed and the same sequence of modules draws the same masks.
     */
    public SplittableRandom nextDropoutRandom() {
        long call = dropoutCalls++;
        return new SplittableRandom(dropoutSeed * 0x9E3779B97F4A7C15L + call);
    }

    @Override
    public void close() {
        stack.clear();
    }
}
