package org.peft4j.adapter.bottleneck;

import java.util.Arrays;
import org.peft4j.core.kernel.Activation;

/**
 * Where a bottleneck adapter sits in a transformer layer, with the modules each placement wraps by
 * default in BERT ({@code bert.encoder.layer.N…}), GPT-2 ({@code transformer.h.N…}) and LLaMA-style
 * decoders ({@code model.layers.N…}), and its defaults as AdapterHub's configs set them.
 */
public enum Placement {
    /**
     * Houlsby et al. (2019): a sequential adapter on the output of the attention block and on the output
     * of the feed-forward block, each before the residual sum (and BERT's LayerNorm): the attention output
     * projection ({@code attention.output.dense}, {@code attn.c_proj}, {@code self_attn.o_proj}) and the
     * feed-forward output projection ({@code output.dense}, {@code mlp.c_proj}, {@code mlp.down_proj}).
     */
    HOULSBY("houlsby", "(.*\\.)?(attention\\.output\\.dense|(layer|layers|h)\\.\\d+\\.output\\.dense|attn\\.c_proj|mlp\\.c_proj"
            + "|self_attn\\.o_proj|mlp\\.down_proj)", Activation.SILU, 1.0),
    /** Pfeiffer et al. (2021): one sequential adapter, on the feed-forward output projection only. */
    PFEIFFER("pfeiffer", "(.*\\.)?((layer|layers|h)\\.\\d+\\.output\\.dense|mlp\\.c_proj|mlp\\.down_proj)", Activation.RELU, 1.0),
    /**
     * He et al. (2022): an adapter beside the feed-forward block, fed with the block's input, its scaled
     * output added to the block's: the {@code mlp} of GPT-2 and LLaMA, and BERT's {@code output} (whose
     * residual input is the feed-forward input; the sum goes into its LayerNorm).
     */
    PARALLEL("parallel", "(.*\\.)?(layer\\.\\d+\\.output|(h|layers)\\.\\d+\\.mlp)", Activation.RELU, 4.0);

    private final String hfName;
    private final String defaultTargets;
    private final Activation defaultNonLinearity;
    private final double defaultScaling;

    Placement(String hfName, String defaultTargets, Activation defaultNonLinearity, double defaultScaling) {
        this.hfName = hfName;
        this.defaultTargets = defaultTargets;
        this.defaultNonLinearity = defaultNonLinearity;
        this.defaultScaling = defaultScaling;
    }

    /** The name in {@code adapter_config.json}: houlsby, pfeiffer or parallel. */
    public String hfName() {
        return hfName;
    }

    /** The regular expression of the modules this placement wraps when target_modules is unset. */
    public String defaultTargets() {
        return defaultTargets;
    }

    /** AdapterHub's non-linearity for this placement (swish for Houlsby, relu otherwise). */
    public Activation defaultNonLinearity() {
        return defaultNonLinearity;
    }

    /** AdapterHub's scaling for this placement (4 for parallel, 1 otherwise). */
    public double defaultScaling() {
        return defaultScaling;
    }

    /** True for the placements whose adapter reads the wrapped module's output (Houlsby, Pfeiffer). */
    public boolean sequential() {
        return this != PARALLEL;
    }

    /** Parses houlsby, pfeiffer or parallel (any case). */
    public static Placement parse(String name) {
        for (Placement p : values()) {
            if (p.hfName.equalsIgnoreCase(name)) {
                return p;
            }
        }
        throw new IllegalArgumentException("placement must be one of " + Arrays.stream(values()).map(Placement::hfName).toList()
                + ", got '" + name + "'");
    }
}
