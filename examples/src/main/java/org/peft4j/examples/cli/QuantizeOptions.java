package org.peft4j.examples.cli;

import java.util.Locale;
import org.peft4j.core.model.PretrainedModel;
import org.peft4j.quant.QuantType;
import org.peft4j.quant.Quantization;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Option;

/**
 * {@code --quantize nf4|fp4|int8} and {@code --double-quant true|false}: quantize the base model while loading it,
 * as transformers' {@code BitsAndBytesConfig} does (docs/qlora.md). A picocli mixin of logits, train, merge and generate.
 */
public final class QuantizeOptions {
    private static final Logger LOG = LoggerFactory.getLogger(QuantizeOptions.class);

    @Option(names = "--quantize", paramLabel = "TYPE",
            description = "Quantize the base while loading: nf4, fp4 or int8. Every Linear of the transformer blocks is stored quantized "
                    + "(blocks of 64 for nf4/fp4, one absmax per row for int8); embeddings, norms and the head stay in float32.")
    String quantize;

    @Option(names = "--double-quant", paramLabel = "BOOL", arity = "1", defaultValue = "true",
            description = "With --quantize nf4 or fp4: quantize the block constants too (QLoRA's double quantization). Default: true.")
    boolean doubleQuant = true;

    /** The quantization asked for, {@code byDefault} if none was (QLoRA), or null. */
    Quantization quantization(Quantization byDefault) {
        if (quantize == null) {
            return byDefault;
        }
        QuantType type;
        try {
            type = QuantType.parse(quantize.trim().toLowerCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--quantize: " + e.getMessage(), e);
        }
        return Quantization.of(type, doubleQuant);
    }

    /** True if --quantize was given. */
    boolean requested() {
        return quantize != null;
    }

    /** Quantizes {@code model}'s transformer blocks with {@code q} (nothing when null) and logs what it did. */
    static PretrainedModel apply(PretrainedModel model, Quantization q) {
        if (q != null) {
            Quantization.Report r = q.apply(model);
            LOG.info("quantized {} Linears to {}{}: {} MB of float32 weights stored in {} MB ({} bits per weight)", r.paths().size(),
                    q.type().bnbName(), q.doubleQuant() ? " with double quantization" : "", String.format(Locale.ROOT, "%.1f", r.denseBytes() / 1e6),
                    String.format(Locale.ROOT, "%.1f", r.storedBytes() / 1e6), String.format(Locale.ROOT, "%.3f", r.bitsPerValue()));
        }
        return model;
    }
}
