/**
 * Bottleneck adapters (Houlsby, Pfeiffer, parallel): {@link org.peft4j.adapter.bottleneck.BottleneckConfig},
 * the wrappers {@link org.peft4j.adapter.bottleneck.AdapterLayer} and
 * {@link org.peft4j.adapter.bottleneck.ParallelAdapterOutput}, and the method
 * {@link org.peft4j.adapter.bottleneck.BottleneckMethod}. See docs/adapter.md.
 */
package org.peft4j.adapter.bottleneck;
