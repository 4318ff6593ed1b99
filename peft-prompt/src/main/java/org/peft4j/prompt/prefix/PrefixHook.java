package org.peft4j.prompt.prefix;

import java.util.Map;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.peft4j.core.kernel.Kernels;
import org.peft4j.core.nn.PastKeyValues;
import org.peft4j.core.nn.SequenceContext;
import org.peft4j.core.nn.Slot;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.param.Param;
import org.peft4j.core.tuner.ModelHook;
import org.peft4j.core.tuner.PeftConfig;
import org.peft4j.prompt.PromptTable;
import org.peft4j.prompt.VirtualTokenHook;

/**
 * Past keys and values for every attention layer (Prefix Tuning, P-Tuning v2), as HF PEFT's
 * {@code get_prompt} makes them from the flat prefix {@code [n, 2·layers·token_dim]}: viewed as
 * {@code [n, 2·layers, heads, head_dim]}, layer i's keys are slice 2i and its values slice 2i+1, each
 * {@code [heads, n, head_dim]} after the transpose, the same for every sequence of a batch. Attention sees
 * them before the real tokens (always visible); the real tokens take positions n…n+T−1 and rotary
 * encodings are not applied to the prefix keys.
 */
public final class PrefixHook extends ModelHook {
    private final String methodId;
    private final PeftConfig config;
    private final Slot<PromptTable> prompt;
    private final int numLayers;
    private final int heads;
    private final int headDim;
    private final Kernels kernels;

    public PrefixHook(String methodId, PeftConfig config, PromptTable prompt, int numLayers, int heads, int headDim, Kernels kernels) {
        this.methodId = methodId;
        this.config = config;
        this.prompt = child("prompt_encoder", PromptTable.class, prompt);
        this.numLayers = numLayers;
        this.heads = heads;
        this.headDim = headDim;
        this.kernels = kernels;
    }

    /** The prefix's table and projection. */
    public PromptTable prompt() {
        return prompt.get();
    }

    @Override
    public String methodId() {
        return methodId;
    }

    @Override
    public PeftConfig config() {
        return config;
    }

    @Override
    protected INDArray apply(INDArray tokens, Tape tape) {
        SequenceContext ctx = tape.context();
        int n = prompt.get().length();
        INDArray flat = prompt.get().forward(tape);                                  // [n, 2·L·H·hd]
        INDArray view = flat.reshape('c', n, 2L * numLayers, heads, headDim);
        INDArray[] keys = new INDArray[numLayers];
        INDArray[] values = new INDArray[numLayers];
        for (int i = 0; i < numLayers; i++) {
            keys[i] = perSequence(view, 2 * i, ctx.batch());
            values[i] = perSequence(view, 2 * i + 1, ctx.batch());
        }
        PastKeyValues past = new PastKeyValues(n, keys, values, tape.isRecording());
        ctx.setPast(past);
        tape.push(this, past);
        return tokens;
    }

    /** Slice {@code s} of the view as {@code [heads, n, hd]}, repeated for each sequence: {@code [batch·heads, n, hd]}. */
    private INDArray perSequence(INDArray view, int s, int batch) {
        long n = view.size(0);
        INDArray one = view.get(NDArrayIndex.all(), NDArrayIndex.point(s), NDArrayIndex.all(), NDArrayIndex.all())
                .permute(1, 0, 2).dup('c');                                             // [H, n, hd]
        INDArray out = Nd4j.create(view.dataType(), (long) batch * heads, n, headDim);
        for (int b = 0; b < batch; b++) {
            out.get(NDArrayIndex.interval((long) b * heads, (long) (b + 1) * heads), NDArrayIndex.all(), NDArrayIndex.all()).assign(one);
        }
        return out;
    }

    @Override
    protected INDArray applyBackward(INDArray grad, Tape tape) {
        PastKeyValues past = tape.pop(this, PastKeyValues.class);
        int n = prompt.get().length();
        INDArray dView = Nd4j.zeros(grad.dataType(), n, 2L * numLayers, heads, headDim);
        for (int i = 0; i < numLayers; i++) {
            addSlice(dView, 2 * i, past.keyGrad(i));
            addSlice(dView, 2 * i + 1, past.valueGrad(i));
        }
        prompt.get().backward(dView.reshape('c', n, 2L * numLayers * heads * headDim), tape);
        return grad;
    }

    /** Backward of {@link #perSequence}: sums {@code g [batch·heads, n, hd]} over the batch into slice s of dView. */
    private void addSlice(INDArray dView, int s, INDArray g) {
        long batch = g.size(0) / heads;
        INDArray summed = g.reshape('c', batch, heads, g.size(1), headDim).sum(0);          // [H, n, hd]
        dView.get(NDArrayIndex.all(), NDArrayIndex.point(s), NDArrayIndex.all(), NDArrayIndex.all()).addi(summed.permute(1, 0, 2));
    }

    /** HF's {@code prompt_embeddings}: the flat prefix {@code [n, 2·layers·token_dim]} (projected, if trained with a projection). */
    @Override
    public Map<String, INDArray> stateToSave() {
        return Map.of(VirtualTokenHook.KEY, prompt.get().evaluate(kernels));
    }

    @Override
    public Map<String, Param> loadableState() {
        return Map.of(VirtualTokenHook.KEY, prompt.get().table());
    }

    @Override
    public String describe() {
        return "PrefixHook(" + methodId + ", n=" + prompt.get().length() + ", layers=" + numLayers + ", heads=" + heads + ", head_dim=" + headDim
                + ")";
    }
}
