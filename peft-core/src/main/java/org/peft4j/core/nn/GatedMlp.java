package org.peft4j.core.nn;

import java.util.Objects;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.kernel.Activation;

/**
 * The gated feed-forward block of LLaMA-style decoders: y = down(f(gate(x)) ⊙ up(x)), SwiGLU when f is
 * SiLU. Input and output {@code [n, hidden]}, gate and up {@code [n, inner]}. Child names follow the
 * architecture ({@code gate_proj, up_proj, down_proj} in LLaMA), so methods can wrap each projection.
 */
public final class GatedMlp extends Layer {
    private final Slot<Layer> gate;
    private final Slot<Layer> up;
    private final Slot<Layer> down;
    private final Activation function;

    private record Saved(INDArray gate, INDArray activated, INDArray up) {
    }

    /** A gated MLP whose children are called by the given names. */
    public GatedMlp(String gateName, Layer gate, String upName, Layer up, String downName, Layer down, Activation function) {
        this.gate = child(gateName, Layer.class, gate);
        this.up = child(upName, Layer.class, up);
        this.down = child(downName, Layer.class, down);
        this.function = Objects.requireNonNull(function, "activation function");
    }

    /** The non-linearity applied to the gate. */
    public Activation function() {
        return function;
    }

    @Override
    public INDArray forward(INDArray x, Tape tape) {
        INDArray g = gate.get().forward(x, tape);                     // [n, inner]
        INDArray u = up.get().forward(x, tape);                       // [n, inner]
        INDArray a = tape.kernels().activate(function, g);            // f(gate)
        INDArray h = a.mul(u);                                        // f(gate) ⊙ up
        INDArray y = down.get().forward(h, tape);                     // [n, hidden]
        tape.push(this, new Saved(g, a, u));
        return y;
    }

    @Override
    public INDArray backward(INDArray gradOutput, Tape tape) {
        Saved s = tape.pop(this, Saved.class);
        INDArray dh = down.get().backward(gradOutput, tape);          // dL/dh [n, inner]
        INDArray du = dh.mul(s.activated());                          // dL/dup = dh ⊙ f(gate)
        INDArray da = dh.muli(s.up());                                // dL/df = dh ⊙ up
        INDArray dg = tape.kernels().activateBackward(function, s.gate(), da);   // dL/dgate = f'(gate) ⊙ dL/df
        // backward in reverse order of forward: up, then gate
        INDArray dx = up.get().backward(du, tape);
        return dx.addi(gate.get().backward(dg, tape));
    }

    @Override
    public String describe() {
        return "GatedMlp(" + function.hfName() + ")";
    }
}
