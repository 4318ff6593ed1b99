/**
 * LLaMA-style decoders as HF's {@code modeling_llama.py} computes them (also Qwen2 and Mistral, which differ
 * in biases): {@link org.peft4j.core.model.llama.LlamaConfig} reads and writes HF's {@code config.json},
 * {@link org.peft4j.core.model.llama.LlamaModel} is the model with HF's parameter paths, and
 * {@link org.peft4j.core.model.llama.LlamaFactory} builds one from a checkpoint.
 */
package org.peft4j.core.model.llama;
