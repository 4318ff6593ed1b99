/**
 * QLoRA's quantized frozen base (arXiv 2305.14314) with bitsandbytes' semantics: NF4 and FP4 block-wise
 * 4-bit quantization ({@link Blockwise4Bit}), double quantization of the block constants, INT8 per-row
 * quantization ({@link RowwiseInt8}), the frozen {@link QuantizedLinear} that LoRA wraps like any linear
 * layer, {@link Quantization} to quantize a model's transformer blocks while loading, and
 * {@link QuantizedCheckpoint} to save and load a quantized base in its packed form. See docs/qlora.md.
 */
package org.peft4j.quant;
