package org.peft4j.core.kernel;

/**
 * Reusable per-thread float buffers for the CPU kernels. A kernel copies its inputs into them, works,
 * and copies the result out, so a training step makes no garbage on the Java heap (which otherwise
 * grows the process by hundreds of megabytes between collections). Buffers may be longer than asked.
 */
final class Scratch {
    /** Buffers a single kernel call uses at most at the same time. */
    static final int SLOTS = 12;

    private final ThreadLocal<float[][]> buffers = ThreadLocal.withInitial(() -> new float[SLOTS][0]);

    /** Buffer {@code slot} with room for at least {@code size} floats; its contents are undefined. */
    float[] get(int slot, long size) {
        float[][] mine = buffers.get();
        int n = Math.toIntExact(size);
        if (mine[slot].length < n) {
            mine[slot] = new float[n];
        }
        return mine[slot];
    }
}
