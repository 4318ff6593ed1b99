package org.peft4j.lora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.peft4j.core.nn.Linear.WeightLayout;
import org.peft4j.core.tuner.PeftMethods;

/** LoRA's registration through META-INF/services and the registry's rules. */
class LoraMethodTest {
    @Test
    void loraIsFoundOnTheClassPathByIdTypeAndConfig() {
        PeftMethods methods = PeftMethods.load();
        assertTrue(methods.ids().contains("lora"), methods.ids().toString());
        assertEquals(LoraMethod.class, methods.byId("lora").getClass());
        assertEquals(LoraMethod.class, methods.byPeftType("LORA").getClass());
        assertEquals(LoraMethod.class, methods.forConfig(LoraConfig.builder().build()).getClass());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> methods.byPeftType("IA3"));
        assertTrue(e.getMessage().contains("no PEFT method for peft_type 'IA3'") && e.getMessage().contains("LORA"), e.getMessage());
    }

    @Test
    void duplicateIdsAreRejected() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> PeftMethods.of(List.of(new LoraMethod(), new LoraMethod())));
        assertTrue(e.getMessage().contains("two PEFT methods have the id 'lora'"), e.getMessage());
    }

    @Test
    void aSecondAdapterJoinsTheExistingWrapper() {
        LoraMethod method = new LoraMethod();
        SplittableRandom rng = new SplittableRandom(1);
        var linear = ToyModels.linear(4, 3, false, WeightLayout.OUT_IN, DataType.FLOAT, rng);
        var wrapper = method.inject("x", linear, "a", LoraConfig.builder().r(2).targetModules("x").build(), rng);
        assertSame(wrapper, method.inject("x", wrapper.asModule(), "b", LoraConfig.builder().r(3).targetModules("x").build(), rng));
        assertEquals(java.util.Set.of("a", "b"), wrapper.adapterNames());
        assertEquals(3, ((LoraLinear) wrapper).rank("b"));
    }
}
