package org.peft4j.quant;

import java.util.Arrays;
import java.util.Locale;
import java.util.Map;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.peft4j.core.kernel.CpuKernels;
import org.peft4j.core.kernel.KernelChoice;
import org.peft4j.core.nn.Layer;
import org.peft4j.core.nn.Linear;
import org.peft4j.core.nn.Linear.WeightLayout;
import org.peft4j.core.nn.LinearLike;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.nn.Workspaces;
import org.peft4j.core.param.Param;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A frozen y = x·Wᵀ + b whose weight is stored quantized ({@link QuantizedWeight}, always in HF's row-major
 * {@code [out, in]} order, as bitsandbytes quantizes it) and whose bias stays in full precision. Input
 * {@code [n, in]}, output {@code [n, out]}.
 *
 * <p>Forward and backward (which only computes dL/dx = dL/dy·W; W never trains) dequantize W, a slice of
 * output rows at a time, into one scratch buffer per thread that all quantized layers share and reuse, and run
 * one GEMM per slice; no float32 copy of a weight outlives the call. With {@link CpuKernels} on the tape the
 * dequantization runs in plain Java over host memory; with any other kernels (the portable path, the CUDA
 * backend) it runs in ND4J ops. The two give the same values.
 *
 * <p>{@link #layout()} is the layout of the Linear this layer replaced (GPT-2's Conv1D is {@code [in, out]}),
 * so that {@link #denseWeight()} gives the weight as that Linear held it and LoRA's fan_in_fan_out keeps its
 * meaning.
 */
public final class QuantizedLinear extends Layer implements LinearLike {
    private static final Logger LOG = LoggerFactory.getLogger(QuantizedLinear.class);
    /** Default size of the dequantization scratch in elements (16 MiB of float32): larger weights go slice by slice. */
    public static final int DEFAULT_SCRATCH_ELEMENTS = 1 << 22;
    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);
    /** The workspace the temporaries of one slice's dequantization and product live in. */
    private static final String DEQUANT_WORKSPACE = "peft4j-dequant";

    private QuantizedWeight weight;
    private final WeightLayout layout;
    private final DataType dataType;
    private final Param bias;
    private final int scratchElements;
    private final int inFeatures;
    private final int outFeatures;

    private record Saved(INDArray x) {
    }

    /** The reused host buffer and the ND4J array over the same values of the CPU path. */
    private static final class Scratch {
        float[] host = new float[0];
        INDArray array;

        /** A FLOAT array of {@code length} elements (outside workspaces, reused). */
        INDArray array(int length) {
            if (array == null || array.length() < length) {
                if (array != null) {
                    array.close();
                }
                try (var ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
                    array = Nd4j.createUninitialized(DataType.FLOAT, length);
                }
                host = new float[length];
            }
            return array;
        }
    }

    /**
     * A layer over {@code weight} ({@code [out, in]}) with {@code bias} (may be null), reporting {@code layout} as the
     * layout and {@code dataType} as the type of its dense weight (FLOAT, or DOUBLE for gradient checks), dequantizing at most {@code scratchElements} values at a time.
     */
    public QuantizedLinear(QuantizedWeight weight, Param bias, WeightLayout layout, DataType dataType, int scratchElements) {
        this.weight = weight;
        this.layout = layout;
        this.dataType = dataType;
        this.inFeatures = weight.columns();
        this.outFeatures = weight.rows();
        if (scratchElements < 1) {
            throw new IllegalArgumentException("scratch size must be >= 1 element, got " + scratchElements);
        }
        this.scratchElements = scratchElements;
        if (bias != null && bias.value().length() != outFeatures) {
            throw new IllegalArgumentException("bias must have " + outFeatures + " elements, got " + Arrays.toString(bias.shape()));
        }
        this.bias = bias == null ? null : register(bias);
    }

    /** Quantizes a Linear's weight ([out, in] whatever its layout) and takes over its bias param. The Linear's weight is not freed. */
    public static QuantizedLinear quantize(Linear linear, Quantization q) {
        INDArray outIn = linear.layout() == WeightLayout.OUT_IN ? linear.weight().value() : linear.weight().value().transpose();
        return new QuantizedLinear(q.quantize(outIn), linear.bias(), linear.layout(), linear.dataType(), q.scratchElements());
    }

    /** The quantized weight. */
    public QuantizedWeight quantizedWeight() {
        return weight;
    }

    @Override
    public int inFeatures() {
        return inFeatures;
    }

    @Override
    public int outFeatures() {
        return outFeatures;
    }

    @Override
    public WeightLayout layout() {
        return layout;
    }

    @Override
    public Param bias() {
        return bias;
    }

    @Override
    public DataType dataType() {
        return dataType;
    }

    /** Output rows per slice: as many as fit in the scratch, a multiple of the weight's row alignment. */
    int sliceRows() {
        int align = weight.rowAlignment();
        int rows = Math.max(1, scratchElements / inFeatures) / align * align;
        return Math.min(outFeatures, Math.max(align, rows));
    }

    @Override
    public INDArray forward(INDArray x, Tape tape) {
        if (x.rank() != 2 || x.columns() != inFeatures) {
            throw new IllegalArgumentException("QuantizedLinear expects x [n, " + inFeatures + "], got " + Arrays.toString(x.shape()));
        }
        boolean host = tape.kernels() instanceof CpuKernels;
        int slice = sliceRows();
        INDArray y = Nd4j.createUninitialized(x.dataType(), x.rows(), outFeatures);     // [n, out], in the pass's workspace
        for (int r0 = 0; r0 < outFeatures; r0 += slice) {
            int r1 = Math.min(outFeatures, r0 + slice);
            int from = r0;
            withSlice(r0, r1, host, x.dataType(), w -> {
                if (r1 - from == outFeatures) {
                    tape.kernels().matmulInto(x, w, y, false, true, 1.0, 0.0);            // y = x·Wᵀ
                } else {
                    y.get(NDArrayIndex.all(), NDArrayIndex.interval(from, r1)).assign(tape.kernels().matmul(x, w, false, true)); // y[:, r0:r1] = x·W[r0:r1]ᵀ
                }
            });
        }
        if (bias != null) {
            y.addiRowVector(bias.value());
        }
        tape.push(this, new Saved(x));
        return y;
    }

    @Override
    public INDArray backward(INDArray gradOutput, Tape tape) {
        Saved s = tape.pop(this, Saved.class);
        if (bias != null && bias.isTrainable()) {
            tape.kernels().addColumnSums(gradOutput, bias.grad());                  // db += Σ_rows dy
        }
        boolean host = tape.kernels() instanceof CpuKernels;
        int slice = sliceRows();
        INDArray dx = Nd4j.createUninitialized(gradOutput.dataType(), s.x().rows(), inFeatures);   // [n, in]
        for (int r0 = 0; r0 < outFeatures; r0 += slice) {
            int r1 = Math.min(outFeatures, r0 + slice);
            int from = r0;
            withSlice(r0, r1, host, gradOutput.dataType(), w -> {
                INDArray g = r1 - from == outFeatures ? gradOutput
                        : gradOutput.get(NDArrayIndex.all(), NDArrayIndex.interval(from, r1)).dup('c');   // [n, r1 − r0]
                tape.kernels().matmulInto(g, w, dx, false, false, 1.0, from == 0 ? 0.0 : 1.0); // dx (+)= dy[:, r0:r1]·W[r0:r1, :]
            });
        }
        return dx;
    }

    /** What to do with a dequantized slice of rows {@code [r1 − r0, in]}; the slice is only valid during the call. */
    private interface SliceUse {
        void accept(INDArray w);
    }

    /**
     * Dequantizes rows [r0, r1) and hands them to {@code use}, inside a workspace of its own that is reset right
     * after, so no temporary of the dequantization (or of {@code use}) outlives the call. The host path writes into
     * the shared scratch buffer; the ND4J path builds the slice with ND4J ops in that workspace.
     */
    private void withSlice(int r0, int r1, boolean host, DataType type, SliceUse use) {
        try (MemoryWorkspace ws = Workspaces.open(DEQUANT_WORKSPACE)) {
            INDArray w;
            if (host) {
                int length = (r1 - r0) * inFeatures;
                Scratch scratch = SCRATCH.get();
                INDArray array = scratch.array(length);
                weight.dequantize(r0, r1, scratch.host);
                HostBuffers.floatView(array).put(scratch.host, 0, length);
                w = Nd4j.create(array.data(), new long[] {r1 - r0, inFeatures});    // over the scratch's buffer: no copy, not a view
            } else {
                w = weight.dequantizeNd4j(r0, r1);
            }
            use.accept(type == DataType.FLOAT ? w : w.castTo(type));
        }
    }

    /** The whole weight dequantized with the CPU path or ND4J ops, {@code [out, in]}. */
    INDArray dequantizeAll(boolean host) {
        return dequantizeAll(weight, host);
    }

    /** All of {@code w} dequantized with the CPU path ({@code host}) or ND4J ops: a new FLOAT array {@code [rows, columns]}. */
    static INDArray dequantizeAll(QuantizedWeight w, boolean host) {
        if (!host) {
            return w.dequantizeNd4j(0, w.rows());
        }
        float[] values = new float[w.rows() * w.columns()];
        w.dequantize(0, w.rows(), values);
        return HostBuffers.floats(values, w.rows(), w.columns());
    }

    /** The dequantized weight in {@link #layout()}: a new FLOAT array. */
    @Override
    public INDArray denseWeight() {
        try (var ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            INDArray w = dequantizeAll(KernelChoice.isCpuBackend()).castTo(dataType);
            return layout == WeightLayout.OUT_IN ? w : w.transpose().dup('c');
        }
    }

    @Override
    public boolean denseWeightIsLive() {
        return false;
    }

    /**
     * Quantizes {@code w} (in {@link #layout()}) again in this layer's format and replaces the weight; logs a warning
     * with the error this adds (merging LoRA into a quantized base: dequantize, add ΔW, quantize again).
     */
    @Override
    public void setDenseWeight(INDArray w) {
        long[] expected = layout == WeightLayout.OUT_IN ? new long[] {outFeatures, inFeatures} : new long[] {inFeatures, outFeatures};
        if (!Arrays.equals(w.shape(), expected)) {
            throw new IllegalArgumentException("the weight must have shape " + Arrays.toString(expected) + ", got " + Arrays.toString(w.shape()));
        }
        try (var ignored = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            INDArray outIn = (layout == WeightLayout.OUT_IN ? w : w.transpose()).castTo(DataType.FLOAT).dup('c');
            QuantizedWeight next = Quantization.requantize(weight, outIn);
            QuantizedWeight old = weight;
            weight = next;
            INDArray back = dequantizeAll(KernelChoice.isCpuBackend());
            QuantizationError error = QuantizationError.of(outIn, back);
            LOG.warn("quantized the merged weight [{}, {}] again as {}: this adds an error of RMS {} (relative {}), max |error| {}",
                    outFeatures, inFeatures, next.type(), fmt(error.rms()), fmt(error.relativeRms()), fmt(error.maxAbs()));
            old.close();
            back.close();
            outIn.close();
        }
    }

    private static String fmt(double v) {
        return String.format(Locale.ROOT, "%.3g", v);
    }

    /** The packed weight under bitsandbytes' names ({@code weight}, {@code weight.absmax}, ...) for checkpoints. */
    @Override
    public Map<String, INDArray> extraState() {
        return weight.tensors();
    }

    /** Frees the quantized weight. */
    public void release() {
        weight.close();
    }

    @Override
    public String describe() {
        return "QuantizedLinear(in=" + inFeatures + ", out=" + outFeatures + (bias != null ? ", bias" : "") + ", " + weight + ")";
    }
}
