package org.peft4j.core.train;

/**
 * The loss of one batch.
 *
 * @param value   mean loss over the counted targets (0 when there are none)
 * @param targets number of targets that counted (tokens with a label, or examples)
 * @param tokens  number of input tokens processed (for throughput)
 */
public record Loss(double value, long targets, long tokens) {
}
