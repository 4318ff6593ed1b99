package org.peft4j.core.tokenizer;

/**
 * One encoded text.
 *
 * @param ids           token ids
 * @param typeIds       segment ids (BERT's token_type_ids; all 0 for one segment)
 * @param attentionMask 1 for each real token (all ones before padding)
 */
public record Encoding(int[] ids, int[] typeIds, int[] attentionMask) {
    public Encoding {
        if (ids == null || typeIds == null || attentionMask == null || typeIds.length != ids.length || attentionMask.length != ids.length) {
            throw new IllegalArgumentException("an encoding needs ids, type ids and an attention mask of one length");
        }
    }

    /** Number of tokens. */
    public int length() {
        return ids.length;
    }
}
