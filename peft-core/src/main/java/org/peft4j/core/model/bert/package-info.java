/**
 * BERT as HF's {@code modeling_bert.py} builds it, with HF's parameter paths: {@link org.peft4j.core.model.bert.BertModel}
 * (embeddings, post-LN layers whose self-attention keeps {@code query}/{@code key}/{@code value} as replaceable
 * children, optional pooler), the heads {@link org.peft4j.core.model.bert.BertForSequenceClassification} (HF's pooler or
 * mean pooling) and {@link org.peft4j.core.model.bert.BertForTokenClassification}, the config record
 * {@link org.peft4j.core.model.bert.BertConfig} (HF's {@code config.json} both ways) and
 * {@link org.peft4j.core.model.bert.BertFactory}, which builds them from any
 * {@link org.peft4j.core.model.WeightSource} by HF tensor names.
 */
package org.peft4j.core.model.bert;
