package org.peft4j.adapter.bottleneck;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.peft4j.adapter.Nets;
import org.peft4j.core.kernel.Activation;
import org.peft4j.core.model.PretrainedModel;
import org.peft4j.core.tuner.PeftModel;

/** Finite-difference checks of every adapter param for each placement on tiny BERT, GPT-2 and LLaMA-style models. */
class BottleneckGradientTest {
    static List<Arguments> cases() {
        List<Arguments> out = new java.util.ArrayList<>();
        for (Placement p : Placement.values()) {
            for (Nets.Kind k : Nets.Kind.values()) {
                out.add(Arguments.of(p, k));
            }
        }
        return out;
    }

    /** Wrappers per layer: Houlsby two (attention and feed-forward outputs), Pfeiffer and parallel one. */
    private static int perLayer(Placement p) {
        return p == Placement.HOULSBY ? 2 : 1;
    }

    /** A smooth non-linearity per placement (relu's dead units would leave sampled gradients at zero); relu is hand-checked elsewhere. */
    private static Activation smooth(Placement p) {
        return switch (p) {
            case HOULSBY -> Activation.SILU;
            case PFEIFFER -> Activation.TANH;
            case PARALLEL -> Activation.GELU;
        };
    }

    @ParameterizedTest
    @MethodSource("cases")
    void adapterGradientsMatchFiniteDifferences(Placement placement, Nets.Kind kind) {
        Nets.Net net = kind.create(11);
        BottleneckConfig config = BottleneckConfig.builder().placement(placement).bottleneckSize(3).nonLinearity(smooth(placement)).build();
        try (PeftModel<PretrainedModel> peft = PeftModel.builder(net.model()).adapter("default", config).seed(5).build()) {
            assertEquals(2 * perLayer(placement), peft.targetedModules("default").size(), "wrapped modules: " + peft.targetedModules("default"));
            assertEquals(4 * 2 * perLayer(placement), peft.registry().trainable().size(), "down and up weights and biases per wrapper");
            Nets.perturbTrainable(peft.module(), 0.5, 12);
            Nets.checkTrainableGradients(net, 3, 13);
        }
    }

    /** Two active adapters in the same wrappers add up; both get correct gradients (on BERT: the wrappers are shared code). */
    @ParameterizedTest
    @org.junit.jupiter.params.provider.EnumSource(Placement.class)
    void twoActiveAdaptersAddUp(Placement placement) {
        Nets.Net net = Nets.bert(21);
        BottleneckConfig config = BottleneckConfig.builder().placement(placement).bottleneckSize(2).nonLinearity(smooth(placement)).build();
        try (PeftModel<PretrainedModel> peft = PeftModel.builder(net.model()).adapter("a", config).adapter("b", config).seed(6).build()) {
            peft.setActiveAdapters(List.of("a", "b"));
            assertEquals(2 * 4 * 2 * perLayer(placement), peft.registry().trainable().size());
            Nets.perturbTrainable(peft.module(), 0.5, 22);
            Nets.checkTrainableGradients(net, 3, 23);
        }
    }

    /** With train_layer_norms the model's norms train too (LayerNorm in BERT and GPT-2, RMSNorm in LLaMA): their gradients are checked as well. */
    @ParameterizedTest
    @org.junit.jupiter.params.provider.EnumSource(Nets.Kind.class)
    void layerNormsTrainWithTheAdapter(Nets.Kind kind) {
        Nets.Net net = kind.create(31);
        BottleneckConfig config = BottleneckConfig.builder().placement(Placement.PFEIFFER).bottleneckSize(2).nonLinearity(Activation.TANH)
                .trainLayerNorms(true).build();
        try (PeftModel<PretrainedModel> peft = PeftModel.builder(net.model()).adapter("default", config).seed(7).build()) {
            List<String> norms = peft.registry().trainable().stream().map(np -> np.path())
                    .filter(p -> !p.contains(".adapter_")).toList();
            int expected = switch (kind) {
                case BERT -> 2 * (1 + 2 * 2);                // weight and bias of the embeddings' and two per layer
                case GPT2 -> 2 * (2 * 2 + 1);                // weight and bias of ln_1, ln_2 per block and ln_f
                case LLAMA -> 2 * 2 + 1;                     // RMSNorm weights: two per layer and the final norm
            };
            assertEquals(expected, norms.size(), "trainable norms: " + norms);
            Nets.perturbTrainable(peft.module(), 0.5, 32);
            Nets.checkTrainableGradients(net, 3, 33);
        }
    }
}
