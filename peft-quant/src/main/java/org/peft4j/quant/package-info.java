/** NF4/FP4/INT8 quantized frozen layers and QLoRA: not written yet, see docs/architecture.md for the hooks they use. */
package org.peft4j.quant;
