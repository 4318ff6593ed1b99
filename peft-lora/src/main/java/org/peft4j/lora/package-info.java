/** LoRA, rsLoRA and DoRA (and AdaLoRA in its own package): not written yet, see docs/architecture.md for the hooks they use. */
package org.peft4j.lora;
