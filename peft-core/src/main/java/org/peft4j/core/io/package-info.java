/**
 * Reading and writing tensors in the Hugging Face safetensors format, and writing files atomically:
 * {@link org.peft4j.core.io.SafetensorsFile} validates a file's whole header before any tensor is read (every
 * malformed input is reported as a {@link org.peft4j.core.io.SafetensorsFormatException} that names the file,
 * the tensor and what is allowed) and copies tensor data in bulk from a memory map into arrays outside any ND4J
 * workspace; {@link org.peft4j.core.io.SafetensorsWriter} writes arrays of any supported
 * {@link org.peft4j.core.io.SafetensorsDType} bit-exactly in the layout the Hugging Face libraries write;
 * {@link org.peft4j.core.io.SafetensorsWeights} reads a whole checkpoint (one file, or shards through a validated
 * {@code model.safetensors.index.json}) as a {@link org.peft4j.core.model.WeightSource} that widens one tensor at a
 * time, and {@link org.peft4j.core.io.SafetensorsCheckpointWriter} writes one the way {@code save_pretrained} does; and
 * {@link org.peft4j.core.io.AtomicFiles} makes every write all-or-nothing, through a temporary file that is forced
 * to disk and then renamed over the target.
 */
package org.peft4j.core.io;
