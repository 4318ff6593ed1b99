/**
 * Bottleneck adapters (Houlsby, Pfeiffer, parallel; {@link org.peft4j.adapter.bottleneck}) and BitFit
 * ({@link org.peft4j.adapter.bitfit}) as PEFT methods, with what they share: the adapters of a wrapper
 * ({@link org.peft4j.core.tuner.AdapterSet}) and the common adapter_config.json fields ({@link org.peft4j.adapter.HfJson}).
 */
package org.peft4j.adapter;
