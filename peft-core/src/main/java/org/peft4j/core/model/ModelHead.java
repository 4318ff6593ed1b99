package org.peft4j.core.model;

/** What a loaded model computes on top of its transformer stack. */
public enum ModelHead {
    /** The last hidden state (BERT's BertModel; decoders without their LM head). */
    BASE,
    /** Next-token logits (GPT2LMHeadModel, LlamaForCausalLM). */
    CAUSAL_LM,
    /** One set of label logits per sequence (BertForSequenceClassification). */
    SEQUENCE_CLASSIFICATION,
    /** One set of label logits per token (BertForTokenClassification). */
    TOKEN_CLASSIFICATION
}
