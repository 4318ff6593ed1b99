package org.peft4j.quant;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import java.util.regex.Pattern;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.model.PretrainedModel;
import org.peft4j.core.nn.Linear;
import org.peft4j.core.nn.Module;
import org.peft4j.core.nn.ModuleTree;
import org.peft4j.core.param.Param;

/**
 * How to quantize a frozen base (transformers' {@code BitsAndBytesConfig}), and the model transform that does
 * it: every {@link Linear} inside the transformer blocks (a path with a layer index, such as
 * {@code transformer.h.3.attn.c_attn} or {@code bert.encoder.layer.0.intermediate.dense}) becomes a
 * {@link QuantizedLinear}; embeddings, norms, the pooler and the output head ({@code lm_head},
 * {@code classifier}, {@code score}) stay in full precision, as transformers' bitsandbytes integration leaves
 * the head and the modules outside the blocks.
 *
 * @param type            NF4, FP4 or INT8 ({@code bnb_4bit_quant_type}, or {@code load_in_8bit})
 * @param blockSize       values per absmax block of the 4-bit formats, 32…4096 (bitsandbytes: 64)
 * @param doubleQuant     quantize the block absmaxes again ({@code bnb_4bit_use_double_quant}); 4-bit formats only
 * @param scratchElements the most float32 values a {@link QuantizedLinear} dequantizes at a time
 */
public record Quantization(QuantType type, int blockSize, boolean doubleQuant, int scratchElements) {
    /** A path inside a transformer block: some segment is a layer index. */
    private static final Pattern IN_BLOCK = Pattern.compile("(^|.*\\.)\\d+\\..*");

    public Quantization {
        if (type == null) {
            throw new IllegalArgumentException("quantization type must be one of nf4, fp4, int8, got null");
        }
        if (type.fourBit()) {
            Blockwise4Bit.checkBlockSize(blockSize);
        }
        if (scratchElements < 1) {
            throw new IllegalArgumentException("scratchElements must be >= 1, got " + scratchElements);
        }
    }

    /** QLoRA's setting: NF4, blocks of 64, double quantization. */
    public static Quantization qlora() {
        return builder().build();
    }

    /** {@code type} with blocks of 64 and double quantization for the 4-bit formats. */
    public static Quantization of(QuantType type, boolean doubleQuant) {
        return builder().type(type).doubleQuant(doubleQuant && type.fourBit()).build();
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Defaults: NF4, block 64, double quantization on (QLoRA's choice), 4 Mi scratch elements. */
    public static final class Builder {
        private QuantType type = QuantType.NF4;
        private int blockSize = 64;
        private boolean doubleQuant = true;
        private int scratchElements = QuantizedLinear.DEFAULT_SCRATCH_ELEMENTS;

        public Builder type(QuantType type) {
            this.type = type;
            return this;
        }

        public Builder blockSize(int blockSize) {
            this.blockSize = blockSize;
            return this;
        }

        public Builder doubleQuant(boolean doubleQuant) {
            this.doubleQuant = doubleQuant;
            return this;
        }

        public Builder scratchElements(int scratchElements) {
            this.scratchElements = scratchElements;
            return this;
        }

        public Quantization build() {
            return new Quantization(type, blockSize, doubleQuant && type.fourBit(), scratchElements);
        }
    }

    /** Quantizes a weight {@code [out, in]} in this format. */
    public QuantizedWeight quantize(INDArray outIn) {
        return type.fourBit() ? Blockwise4Bit.quantize(outIn, type, blockSize, doubleQuant) : RowwiseInt8.quantize(outIn);
    }

    /** Quantizes {@code outIn} in the format of {@code like}. */
    static QuantizedWeight requantize(QuantizedWeight like, INDArray outIn) {
        if (like instanceof Blockwise4Bit b) {
            return Blockwise4Bit.quantize(outIn, b.type(), b.blockSize(), b.doubleQuant());
        }
        return RowwiseInt8.quantize(outIn);
    }

    /**
     * Replaces every {@link QuantizedLinear} of the tree (inside wrappers too) by a frozen {@link Linear} holding its
     * dequantized weight in the original layout and the same bias: the float model the quantized one computes. Returns
     * the paths replaced.
     */
    public static List<String> dequantize(Module root) {
        List<String> paths = new ArrayList<>();
        for (Map.Entry<String, Module> e : ModuleTree.modules(root).entrySet()) {
            if (e.getValue() instanceof QuantizedLinear) {
                paths.add(e.getKey());
            }
        }
        for (String path : paths) {
            QuantizedLinear q = (QuantizedLinear) ModuleTree.get(root, path);
            Linear dense = new Linear(Param.frozen("weight", q.denseWeight()), q.bias(), q.layout());
            ModuleTree.replace(root, path, old -> dense);
            q.release();
        }
        return paths;
    }

    /** What {@link #apply} did. */
    public record Report(List<String> paths, long denseBytes, long storedBytes) {
        /** Stored bytes over the float32 bytes of the same weights. */
        public double ratio() {
            return denseBytes == 0 ? 1.0 : (double) storedBytes / denseBytes;
        }

        /** Bits per quantized weight value, constants included. */
        public double bitsPerValue() {
            return 32.0 * ratio();
        }
    }

    /** Quantizes the Linears of {@code model}'s transformer blocks; see the class comment. */
    public Report apply(PretrainedModel model) {
        return apply(model.module(), path -> IN_BLOCK.matcher(path).matches());
    }

    /**
     * Replaces every {@link Linear} of the tree whose path {@code select} accepts by a {@link QuantizedLinear}, one at a
     * time, freeing each float weight as soon as it is quantized. Modules inside wrappers (a LoRA layer's base) are
     * replaced too.
     */
    public Report apply(Module root, Predicate<String> select) {
        List<String> paths = new ArrayList<>();
        long dense = 0;
        long stored = 0;
        for (Map.Entry<String, Module> e : ModuleTree.modules(root).entrySet()) {
            if (e.getValue() instanceof Linear linear && select.test(e.getKey())) {
                paths.add(e.getKey());
            }
        }
        for (String path : paths) {
            Linear linear = (Linear) ModuleTree.get(root, path);
            if (linear.weight().isTrainable()) {
                throw new IllegalStateException("'" + path + "' has a trainable weight; only frozen weights can be quantized");
            }
            QuantizedLinear q = QuantizedLinear.quantize(linear, this);
            ModuleTree.replace(root, path, old -> q);
            dense += linear.weight().length() * 4L;
            stored += q.quantizedWeight().storedBytes();
            linear.weight().close();
        }
        return new Report(List.copyOf(paths), dense, stored);
    }
}
