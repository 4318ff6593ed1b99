/**
 * Weights from ONNX model files: {@link org.peft4j.core.io.onnx.OnnxWeights} reads a file's initializers and graph
 * with protobuf's {@code CodedInputStream} (no generated ONNX classes), validating every size against the bytes
 * present before anything is allocated, and {@link org.peft4j.core.io.onnx.OnnxHfNames} renames the weights of a
 * PyTorch export to HF parameter paths, reading MatMul weights back in {@code torch.nn.Linear}'s {@code [out, in]}.
 */
package org.peft4j.core.io.onnx;
