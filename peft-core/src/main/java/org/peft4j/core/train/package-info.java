/**
 * Training: the {@link org.peft4j.core.train.Trainer} (micro-batches, accumulation, clipping, ND4J
 * updaters under HF's warmup schedules, evaluation, atomic checkpoints), its configuration and its
 * listeners (progress log, loss curve CSV).
 */
package org.peft4j.core.train;
