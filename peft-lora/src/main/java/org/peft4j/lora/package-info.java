/**
 * LoRA and its variants, in HF PEFT's {@code tuners/lora} shape: {@link org.peft4j.lora.LoraConfig}
 * (config.py), {@link org.peft4j.lora.LoraLinear} and {@link org.peft4j.lora.LoraEmbedding} (layer.py,
 * with rsLoRA scaling, DoRA and PiSSA), {@link org.peft4j.lora.LoraMethod} (model.py, registered as a
 * {@link org.peft4j.core.tuner.PeftMethod}) and {@link org.peft4j.lora.WeightedAdapters}
 * ({@code add_weighted_adapter}). Apply it with {@link org.peft4j.core.tuner.PeftModel}.
 */
package org.peft4j.lora;
