/**
 * Training and evaluation data: text read from files and Maven artifacts, tokenized once and served as
 * {@link org.peft4j.core.train.BatchSource}s of {@link org.peft4j.core.model.TokenBatch}es.
 * {@link org.peft4j.core.data.JsonlDataset} reads JSONL with line-numbered errors; a
 * {@link org.peft4j.core.data.LabelSet} fixes the order of classification labels and is saved beside a model;
 * {@link org.peft4j.core.data.ClassificationBatches} and {@link org.peft4j.core.data.CausalLmBatches} pad whole texts
 * per batch, {@link org.peft4j.core.data.TokenWindows} cuts one token stream into windows; and
 * {@link org.peft4j.core.data.TextCorpus} and {@link org.peft4j.core.data.LanguageToolAcceptability} build corpora
 * from text that ships in Maven artifacts (Europarl, LanguageTool's English grammar examples).
 */
package org.peft4j.core.data;
