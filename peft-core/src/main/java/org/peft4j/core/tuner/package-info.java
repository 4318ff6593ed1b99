/**
 * The method-independent PEFT machinery, modelled on HF PEFT's {@code tuners_utils} and
 * {@code peft_model}: {@link org.peft4j.core.tuner.PeftConfig} and the
 * {@link org.peft4j.core.tuner.PeftMethod} SPI (registered through {@code META-INF/services} and found
 * by {@link org.peft4j.core.tuner.PeftMethods}), HF's target-module rules in
 * {@link org.peft4j.core.tuner.TargetSpec}, {@link org.peft4j.core.tuner.ModulesToSave} copies, and
 * {@link org.peft4j.core.tuner.PeftModel}, which applies adapters to a base model, switches, merges,
 * saves and loads them in HF PEFT's file layout. No method is known here by name.
 */
package org.peft4j.core.tuner;
