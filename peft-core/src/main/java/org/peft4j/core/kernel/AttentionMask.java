package org.peft4j.core.kernel;

/**
 * Which keys each query of an attention score tensor {@code [batch · heads, queryLen, keyLen]} may see.
 * Queries are the last {@code queryLen} positions of the keys, so with {@code causal} query i sees
 * keys {@code j ≤ i + keyLen − queryLen}; {@code keyMask} ({@code [batch · keyLen]}, 1 = visible)
 * hides padding. A query that sees no key at all gets uniform weights.
 */
public record AttentionMask(int batch, int heads, int queryLen, int keyLen, boolean causal, int[] keyMask) {
    public AttentionMask {
        if (batch <= 0 || heads <= 0 || queryLen <= 0 || keyLen < queryLen) {
            throw new IllegalArgumentException("attention mask needs batch, heads, queryLen > 0 and keyLen >= queryLen, got batch="
                    + batch + " heads=" + heads + " queryLen=" + queryLen + " keyLen=" + keyLen);
        }
        if (keyMask != null && keyMask.length != batch * keyLen) {
            throw new IllegalArgumentException("key mask must have batch*keyLen = " + batch * keyLen + " entries, got " + keyMask.length);
        }
    }

    /** True if no key is ever hidden (no causal rule, no padding). */
    public boolean isEmpty() {
        return !causal && keyMask == null;
    }

    /** True if query {@code q} of sequence {@code b} may see key {@code k}. */
    public boolean visible(int b, int q, int k) {
        if (causal && k > q + keyLen - queryLen) {
            return false;
        }
        return keyMask == null || keyMask[b * keyLen + k] != 0;
    }
}
