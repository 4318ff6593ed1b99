package org.peft4j.core.tuner;

import java.util.List;

/**
 * The adapter of each sequence that the calling thread chose for its next inference passes
 * ({@link PeftModel#adapterPerSequence}), as a wrapper keeps it: per thread, so that threads running
 * inference on one model at the same time can each choose their own adapters.
 */
public final class SequenceAdapters {
    private final ThreadLocal<List<String>> perThread = new ThreadLocal<>();

    /** Sets this thread's choice; null clears it. */
    public void set(List<String> names) {
        if (names == null) {
            perThread.remove();
        } else {
            perThread.set(List.copyOf(names));
        }
    }

    /** This thread's choice, or null when it has none. */
    public List<String> get() {
        return perThread.get();
    }
}
