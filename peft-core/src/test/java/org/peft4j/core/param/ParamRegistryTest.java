package org.peft4j.core.param;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.kernel.KernelChoice;
import org.peft4j.core.model.gpt2.Gpt2Config;
import org.peft4j.core.model.gpt2.Gpt2Model;
import org.peft4j.core.nn.Layer;
import org.peft4j.core.nn.Linear;
import org.peft4j.core.nn.Module;
import org.peft4j.core.nn.ModuleTree;
import org.peft4j.core.nn.Tape;

class ParamRegistryTest {
    /** HF's GPT-2 small: 124,439,808 params (lm_head tied, so counted once). */
    @Test
    void countsMatchHfForGpt2Small() {
        Gpt2Model model = Gpt2Model.random(Gpt2Config.builder().build(), 1, DataType.FLOAT, KernelChoice.AUTO);
        ParamRegistry registry = new ParamRegistry(model);
        assertEquals(124_439_808L, registry.totalCount());
        assertEquals(0L, registry.trainableCount(), "models are built frozen");
        // train the attention projections' biases of every block: 12 · (2304 + 768)
        int n = registry.unfreezeMatching(Pattern.compile("transformer\\.h\\.\\d+\\.attn\\.c_(attn|proj)\\.bias"));
        assertEquals(24, n);
        assertEquals("trainable params: 36,864 || all params: 124,439,808 || trainable%: 0.0296", registry.summary());
    }

    private static Gpt2Model tiny() {
        return Gpt2Model.random(Gpt2Config.builder().vocabSize(10).nPositions(8).nEmbd(4).nLayer(2).nHead(2).build(), 1, DataType.FLOAT,
                KernelChoice.AUTO);
    }

    @Test
    void unfreezeByNameSuffixRegexAndPredicate() {
        ParamRegistry r = new ParamRegistry(tiny());
        assertEquals(1, r.unfreeze("transformer.ln_f.weight"));
        assertEquals(4, r.trainableCount());
        assertEquals(2, r.unfreezeSuffix("ln_1.weight"), "h.0.ln_1.weight and h.1.ln_1.weight");
        assertEquals(4 + 2 * 4, r.trainableCount());
        r.freezeAll();
        // per block: ln_1, c_attn, c_proj, ln_2, c_fc, mlp.c_proj biases; plus ln_f.bias
        assertEquals(2 * 6 + 1, r.unfreezeSuffix("bias"));
        assertTrue(r.trainable().stream().allMatch(np -> np.path().endsWith(".bias")));
        r.freezeAll();
        assertEquals(2, r.unfreezeMatching(Pattern.compile(".*\\.h\\.1\\.(ln_1|ln_2)\\.weight")));
        r.freezeAll();
        assertEquals(1, r.unfreeze(np -> np.param().value().rank() == 2 && np.path().startsWith("transformer.wpe")));
        assertTrue(r.get("transformer.wpe.weight").isTrainable());
        r.freezeAll();
        assertEquals(0, r.trainableCount());
    }

    @Test
    void selectorsThatMatchNothingFailWithTheParamList() {
        ParamRegistry r = new ParamRegistry(tiny());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> r.unfreezeSuffix("q_proj.weight"));
        assertTrue(e.getMessage().contains("matched no param") && e.getMessage().contains("transformer.wte.weight"), e.getMessage());
        IllegalArgumentException e2 = assertThrows(IllegalArgumentException.class, () -> r.get("transformer.h.0.attn.c_attn.wieght"));
        assertTrue(e2.getMessage().contains("no param"), e2.getMessage());
    }

    @Test
    void exportAndLoadRoundTripBitExact() {
        Gpt2Model a = tiny();
        Gpt2Model b = Gpt2Model.random(Gpt2Config.builder().vocabSize(10).nPositions(8).nEmbd(4).nLayer(2).nHead(2).build(), 99,
                DataType.FLOAT, KernelChoice.AUTO);
        Map<String, INDArray> blockOne = new ParamRegistry(a).export(np -> np.path().startsWith("transformer.h.1."));
        assertEquals(12, blockOne.size());
        ParamRegistry.LoadReport report = new ParamRegistry(b).load(blockOne, np -> np.path().startsWith("transformer.h.1."), true);
        assertTrue(report.missing().isEmpty() && report.unexpected().isEmpty());
        for (String path : blockOne.keySet()) {
            assertEquals(blockOne.get(path), new ParamRegistry(b).get(path).value(), path);
        }
        assertTrue(!new ParamRegistry(a).get("transformer.h.0.ln_1.weight").value().equals(
                new ParamRegistry(b).get("transformer.h.0.attn.c_attn.weight").value()));
    }

    @Test
    void loadRejectsWrongShapesAndReportsStrayNames() {
        ParamRegistry r = new ParamRegistry(tiny());
        Map<String, INDArray> wrong = Map.of("transformer.ln_f.weight", org.nd4j.linalg.factory.Nd4j.ones(DataType.FLOAT, 5));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> r.load(wrong, np -> np.path().equals("transformer.ln_f.weight"), true));
        assertTrue(e.getMessage().contains("expected shape [4]"), e.getMessage());
        Map<String, INDArray> stray = Map.of("transformer.nope", org.nd4j.linalg.factory.Nd4j.ones(DataType.FLOAT, 4));
        assertThrows(IllegalArgumentException.class, () -> r.load(stray, np -> false, true));
        ParamRegistry.LoadReport report = r.load(stray, np -> false, false);
        assertEquals(List.of("transformer.nope"), report.unexpected());
    }

    /** A wrapper in the style of a PEFT method: keeps the base layer as a child and adds its own param. */
    static final class ScaledLinear extends Layer {
        final Linear base;
        final Param scale;

        ScaledLinear(Linear base) {
            this.base = base;
            child("base_layer", Linear.class, base);
            scale = register(Param.owned("scale", "test-method", org.nd4j.linalg.factory.Nd4j.ones(DataType.FLOAT, 1), true));
        }

        @Override
        public INDArray forward(INDArray x, Tape tape) {
            return base.forward(x, tape).muli(scale.value().getDouble(0));
        }

        @Override
        public INDArray backward(INDArray g, Tape tape) {
            return base.backward(g.mul(scale.value().getDouble(0)), tape);
        }
    }

    @Test
    void methodsWrapModulesAtAPathAndTheirParamsJoinTheTree() {
        Gpt2Model model = tiny();
        Module wrapped = ModuleTree.replace(model, "transformer.h.0.attn.c_attn", m -> new ScaledLinear((Linear) m));
        assertTrue(wrapped instanceof ScaledLinear);
        ParamRegistry r = new ParamRegistry(model);
        assertTrue(r.paths().contains("transformer.h.0.attn.c_attn.base_layer.weight"), "HF PEFT's base_layer naming");
        assertEquals(List.of("transformer.h.0.attn.c_attn.scale"), r.trainable().stream().map(ParamRegistry.NamedParam::path).toList());
        assertEquals(Map.of("base", r.totalCount() - 1, "test-method", 1L), r.countByOwner());
        // the replacement must fit the slot's type: an embedding slot takes no Layer
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ModuleTree.replace(model, "transformer.wte", m -> new ScaledLinear((Linear) model.child("lm_head"))));
        assertTrue(e.getMessage().contains("must be a EmbeddingLayer"), e.getMessage());
        IllegalArgumentException missing = assertThrows(IllegalArgumentException.class, () -> ModuleTree.get(model, "transformer.h.7"));
        assertTrue(missing.getMessage().contains("[0, 1]"), missing.getMessage());
        assertEquals(List.of("transformer.h.0.attn.c_attn.base_layer", "transformer.h.0.attn.c_proj", "transformer.h.0.mlp.c_fc",
                "transformer.h.0.mlp.c_proj", "transformer.h.1.attn.c_attn", "transformer.h.1.attn.c_proj", "transformer.h.1.mlp.c_fc",
                "transformer.h.1.mlp.c_proj", "lm_head"), ModuleTree.pathsOf(model, Linear.class));
    }
}
