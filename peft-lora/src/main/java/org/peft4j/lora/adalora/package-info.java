/**
 * AdaLoRA (Zhang et al. 2023, arXiv 2303.10512; HF PEFT's {@code tuners/adalora}): LoRA in SVD form,
 * ΔW = P·diag(λ)·Q·s, whose triplets are ranked by a smoothed sensitivity times its uncertainty and masked
 * down to a budget that falls on a cubic schedule. {@link org.peft4j.lora.adalora.AdaLoraConfig},
 * {@link org.peft4j.lora.adalora.AdaLoraLinear}, {@link org.peft4j.lora.adalora.AdaLoraMethod} and the
 * {@link org.peft4j.lora.adalora.RankAllocator}, which the trainer runs through its training hook, so the ranks
 * are re-allocated without any call from the user.
 */
package org.peft4j.lora.adalora;
