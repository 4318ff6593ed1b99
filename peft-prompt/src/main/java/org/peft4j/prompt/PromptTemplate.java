package org.peft4j.prompt;

import java.util.Locale;

/**
 * Where virtual tokens go around the real tokens (P-Tuning's templates, arXiv 2103.10385, with one input slot):
 * {@code before} virtual tokens, then the sequence's real tokens, then {@code after} virtual tokens. The prompt's
 * n = before + after rows are made at once, in template order (the encoder sees them as one sequence), and split:
 * rows 0…before−1 go before the input, rows before…n−1 after it.
 *
 * <p>Syntax: comma-separated segments, each a positive count of virtual tokens or the word {@code input} (the
 * real tokens, exactly once); whitespace around segments is ignored. Examples: {@code "3,input,3"},
 * {@code "input,4"}, {@code "20,input"} (all before the input: the default, HF PEFT's layout). Two counts next to
 * each other are rejected (write their sum).
 *
 * <p>Layout of sequence b of a batch of T tokens with L real ones (attention mask 1): rows 0…before−1 virtual,
 * before…before+L−1 the real tokens in order, then the after virtual tokens, then the T−L padding rows (mask 0)
 * in their order; n + T rows in all, positions consecutive. A template with no virtual token after the input
 * keeps the tokens as given (padding where it is), as HF PEFT prepends.
 *
 * @param before virtual tokens before the input (≥ 0)
 * @param after  virtual tokens after the input (≥ 0); before + after > 0
 */
public record PromptTemplate(int before, int after) {
    /** The word that stands for the real tokens. */
    public static final String INPUT = "input";
    private static final String SYNTAX = "comma-separated counts of virtual tokens and the word 'input' once, e.g. \"3,input,3\"";

    public PromptTemplate {
        if (before < 0 || after < 0 || before + after == 0) {
            throw new IllegalArgumentException("a template needs at least one virtual token and no negative count, got " + before
                    + " before and " + after + " after the input");
        }
    }

    /** All n virtual tokens before the input (HF PEFT's layout). */
    public static PromptTemplate prefix(int n) {
        return new PromptTemplate(n, 0);
    }

    /** Parses the syntax above; the message of a bad template names what was wrong and the syntax. */
    public static PromptTemplate parse(String text) {
        if (text == null || text.isBlank()) {
            throw new IllegalArgumentException("the template is empty; it must be " + SYNTAX);
        }
        String[] parts = text.split(",", -1);
        int input = -1;
        int[] counts = new int[parts.length];
        for (int i = 0; i < parts.length; i++) {
            String p = parts[i].trim();
            if (p.toLowerCase(Locale.ROOT).equals(INPUT)) {
                if (input >= 0) {
                    throw new IllegalArgumentException("template '" + text + "' has more than one 'input' segment; it must have exactly one ("
                            + SYNTAX + ")");
                }
                input = i;
                continue;
            }
            try {
                counts[i] = Integer.parseInt(p);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("template '" + text + "': segment " + (i + 1) + " '" + p
                        + "' is neither a count of virtual tokens nor 'input'; a template is " + SYNTAX);
            }
            if (counts[i] <= 0) {
                throw new IllegalArgumentException("template '" + text + "': segment " + (i + 1) + " has " + counts[i]
                        + " virtual tokens; counts must be > 0");
            }
            if (i > 0 && input != i - 1) {
                throw new IllegalArgumentException("template '" + text + "': segments " + i + " and " + (i + 1) + " are two counts ("
                        + counts[i - 1] + ", " + counts[i] + ") next to each other; write them as one segment " + (counts[i - 1] + counts[i]));
            }
        }
        if (input < 0) {
            throw new IllegalArgumentException("template '" + text + "' has no 'input' segment; it must say where the real tokens go ("
                    + SYNTAX + ")");
        }
        int before = 0;
        int after = 0;
        for (int i = 0; i < parts.length; i++) {
            if (i < input) {
                before += counts[i];
            } else {
                after += counts[i];
            }
        }
        if (before + after == 0) {
            throw new IllegalArgumentException("template '" + text + "' has no virtual tokens; it must be " + SYNTAX);
        }
        return new PromptTemplate(before, after);
    }

    /** Number of virtual tokens n. */
    public int virtualTokens() {
        return before + after;
    }

    /** True if every virtual token precedes the input (HF PEFT's layout, usable for generation). */
    public boolean isPrefix() {
        return after == 0;
    }

    /**
     * For every row r of the combined batch {@code [batch·(n+T)]}, the row it copies from {@code vstack(tokens,
     * prompt)}: indices below batch·T are the batch's token rows, batch·T + j is the prompt's row j (the layout
     * above). {@code tokenRows} receives each token's row within its sequence {@code [batch·T]}.
     *
     * @param mask the attention mask {@code [batch·T]} (1 = real token), or null when nothing is padded
     */
    public int[] sourceOfRow(int batch, int t, int[] mask, int[] tokenRows) {
        int n = virtualTokens();
        int seq = n + t;
        int[] source = new int[batch * seq];
        for (int b = 0; b < batch; b++) {
            int at = b * seq;
            int row = 0;
            for (int j = 0; j < before; j++) {
                source[at + row++] = batch * t + j;
            }
            for (int i = 0; i < t; i++) {                           // the real tokens (with a prefix only: every token)
                if (isPrefix() || mask == null || mask[b * t + i] == 1) {
                    tokenRows[b * t + i] = row;
                    source[at + row++] = b * t + i;
                }
            }
            for (int j = before; j < n; j++) {
                source[at + row++] = batch * t + j;
            }
            for (int i = 0; i < t && !isPrefix() && mask != null; i++) {   // the padding, last
                if (mask[b * t + i] != 1) {
                    tokenRows[b * t + i] = row;
                    source[at + row++] = b * t + i;
                }
            }
        }
        return source;
    }

    /** The syntax above, e.g. "3,input,3". */
    @Override
    public String toString() {
        return (before > 0 ? before + "," : "") + INPUT + (after > 0 ? "," + after : "");
    }
}
