package org.peft4j.core.nn;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Runs a model's stack of layers (transformer blocks) with gradients only as deep as they are needed.
 * Layers below the first one that must run backward go forward without recording, each in a scratch
 * workspace reset after it; backward stops at that layer. This is where freezing saves time and memory.
 */
public final class LayerStack {
    private LayerStack() {
    }

    /**
     * The index of the first layer whose backward must run: 0 when something below the stack needs
     * gradients (trainable embeddings or input hooks, trainable past keys/values), otherwise the first
     * layer with a trainable param ({@code layers.size()} when there is none).
     */
    public static int firstRecorded(ModuleList<? extends Layer> layers, boolean belowNeedsGrad, SequenceContext ctx) {
        boolean pastNeedsGrad = ctx.past() != null && ctx.past().requiresGrad();
        if (belowNeedsGrad || pastNeedsGrad) {
            return 0;
        }
        for (int i = 0; i < layers.size(); i++) {
            if (layers.get(i).requiresGrad()) {
                return i;
            }
        }
        return layers.size();
    }

    /** Runs every layer forward; layers below {@code firstRecorded} (all, when the tape does not record) save nothing. */
    public static INDArray forward(ModuleList<? extends Layer> layers, INDArray x, Tape tape, int firstRecorded) {
        for (int i = 0; i < layers.size(); i++) {
            if (i < firstRecorded || !tape.isRecording()) {
                try (Tape.Scope ignored = tape.pauseRecording()) {
                    x = Workspaces.forwardUnrecorded(layers.get(i), x, tape);     // temporaries freed layer by layer
                }
            } else {
                x = layers.get(i).forward(x, tape);
            }
        }
        return x;
    }

    /** Runs backward from the last layer down to {@code firstRecorded}; returns dL/d(input of that layer). */
    public static INDArray backward(ModuleList<? extends Layer> layers, INDArray gradOutput, Tape tape, int firstRecorded) {
        INDArray g = gradOutput;
        for (int i = layers.size() - 1; i >= firstRecorded; i--) {
            g = Workspaces.backwardScoped(layers.get(i), g, tape);              // temporaries freed layer by layer
        }
        return g;
    }
}
