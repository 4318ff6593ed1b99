/**
 * Prompt learning methods, which leave every weight of the model untouched and learn continuous prompts:
 * Prompt Tuning ({@code prompttuning}), P-Tuning v1 ({@code ptuning}), Prefix Tuning and P-Tuning v2
 * ({@code prefix}). They plug in through the model's input hooks ({@link org.peft4j.core.tuner.ModelHook}):
 * virtual tokens prepended to the token embeddings or placed around them by a {@link org.peft4j.prompt.PromptTemplate}
 * ({@link org.peft4j.prompt.VirtualTokenHook}), or past
 * keys/values in every attention layer ({@link org.peft4j.prompt.prefix.PrefixHook}). See docs/prompt.md.
 */
package org.peft4j.prompt;
