/**
 * Models of HF architectures and what they compute: token batches, the causal-LM task, the interfaces
 * every architecture implements (module tree, HF config and state dict), the base classes that run
 * embeddings → layers → head for them ({@code TransformerModel}, {@code CausalLmModel}), the shared
 * {@code config.json} field reader ({@code HfConfigFields}), and the factories that build an architecture
 * from a checkpoint's {@code config.json} and weights.
 */
package org.peft4j.core.model;
