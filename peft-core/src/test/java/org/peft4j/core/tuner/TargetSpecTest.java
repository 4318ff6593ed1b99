package org.peft4j.core.tuner;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.peft4j.core.tuner.TargetSpec.Match;

/** HF PEFT's target-module rules (L-04), pattern keys (L-03) and the layer arguments' validation (CV-05). */
class TargetSpecTest {
    private static boolean matches(String key, TargetSpec spec) {
        return spec.match(key, List.of()) == Match.TARGETED;
    }

    private static TargetSpec listed(String... names) {
        return TargetSpec.of(names);
    }

    private static TargetSpec layers(List<String> targets, List<Integer> layers, List<String> pattern) {
        return new TargetSpec(new TargetSpec.Listed(targets), null, layers, pattern);
    }

    /** The cases of HF's test_regex_matching_valid. */
    @Test
    void hfMatchingCases() {
        assertTrue(matches("foo", listed("foo")));
        assertTrue(matches("foo", TargetSpec.regex(".*oo")));
        assertTrue(matches("foobar", TargetSpec.regex(".*oba.*")));
        assertTrue(!matches("transformer.h.1.attn.attention.q_proj.foo", listed("q_proj")));
        assertTrue(matches("foo.bar.1.baz", layers(List.of("baz"), List.of(1), List.of("bar"))));
        assertTrue(!matches("foo.bar.1.baz", layers(List.of("baz"), List.of(0), List.of("bar"))));
        assertTrue(!matches("foo.bar.10.baz", layers(List.of("baz"), List.of(1), List.of("bar"))));
        assertTrue(matches("foo.bar.001.baz", layers(List.of("baz"), List.of(1), List.of("bar"))));
        assertTrue(!matches("bar.1.baz", layers(List.of("baz"), List.of(1), List.of("bar"))));
        assertTrue(!matches("foo.bar.2.spam.1.baz", layers(List.of("baz"), List.of(1), List.of("bar"))));
    }

    @Test
    void suffixesMatchOnlyAtADot() {
        assertTrue(matches("model.layers.0.self_attn.q_proj", listed("q_proj")));
        assertTrue(matches("model.layers.0.self_attn.q_proj", listed("self_attn.q_proj")));
        assertTrue(!matches("model.layers.0.self_attn.xq_proj", listed("q_proj")));
        assertTrue(!matches("model.layers.0.self_attn.q_proj", TargetSpec.regex("q_proj")), "a regex must match the whole path");
        assertTrue(matches("h.3.attn", layers(List.of("h.3.attn"), List.of(0), null)), "an exact name is not filtered by layer, as in HF");
        assertTrue(matches("model.layers.1.mlp.experts.0.up_proj", layers(List.of("up_proj"), List.of(1), null)), "the first index is the layer");
        assertTrue(!matches("model.layers.0.mlp.experts.1.up_proj", layers(List.of("up_proj"), List.of(1), null)));
    }

    @Test
    void excludeAndModulesToSaveExclude() {
        TargetSpec spec = TargetSpec.regex("lin.*").withExclude(new TargetSpec.Listed(List.of("lin0")));
        assertEquals(Match.EXCLUDED, spec.match("lin0", List.of()));
        assertEquals(Match.TARGETED, spec.match("lin1", List.of()));
        assertEquals(Match.EXCLUDED, spec.match("lin1", List.of("lin1")));
        assertEquals(Match.EXCLUDED, TargetSpec.regex(".*").match("head.dense", List.of("head")), "below a module to save");
        assertEquals(Match.UNMATCHED, TargetSpec.of("x").match("lin2", List.of()));
    }

    @Test
    void patternKeysMatchTheEndAtADotAndCaretAnchors() {
        List<String> keys = List.of("foo");
        assertEquals("foo", TargetSpec.patternKey(keys, "foo"));
        assertEquals("foo", TargetSpec.patternKey(keys, "module.module.foo"));
        assertNull(TargetSpec.patternKey(keys, "module.barfoo"));
        assertNull(TargetSpec.patternKey(keys, "module.foobar"));
        assertEquals("^foo", TargetSpec.patternKey(List.of("^foo"), "foo"));
        assertNull(TargetSpec.patternKey(List.of("^foo"), "module.foo"));
        assertEquals("^module.foo", TargetSpec.patternKey(List.of("^module.foo"), "module.foo"));
        assertNull(TargetSpec.patternKey(List.of("^module.foo"), "module.module.foo"));
        assertEquals("module.foo", TargetSpec.patternKey(List.of("module.foo"), "module.module.foo"));
        assertEquals("a", TargetSpec.patternKey(List.of("a", "foo"), "x.foo.a"), "the first matching key wins");
    }

    @Test
    void layerArgumentsAreValidated() {
        IllegalArgumentException regex = assertThrows(IllegalArgumentException.class,
                () -> new TargetSpec(new TargetSpec.Regex(".*q"), null, List.of(1), null));
        assertTrue(regex.getMessage().contains("layers_to_transform cannot be used when target_modules is a regex"), regex.getMessage());
        IllegalArgumentException pattern = assertThrows(IllegalArgumentException.class,
                () -> new TargetSpec(new TargetSpec.Listed(List.of("q")), null, null, List.of("layers")));
        assertTrue(pattern.getMessage().contains("layers_pattern [layers] needs layers_to_transform"), pattern.getMessage());
        assertEquals(List.of(0), new TargetSpec(new TargetSpec.Listed(List.of("q")), null, List.of(0), List.of("layers")).layersToTransform(),
                "index 0 is kept");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> TargetSpec.regex("(")).getMessage().contains("not a valid regular expression"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> new TargetSpec.Listed(List.of())).getMessage().contains("at least one"));
    }

    @Test
    void hfJsonForms() throws Exception {
        ObjectMapper json = new ObjectMapper();
        TargetSpec s = TargetSpec.fromHfJson(json.readTree("{\"target_modules\": \"all-linear\", \"exclude_modules\": [\"lm_head\"]}"));
        assertTrue(s.isAllLinear());
        assertEquals(new TargetSpec.Listed(List.of("lm_head")), s.exclude());
        TargetSpec t = TargetSpec.fromHfJson(json.readTree("{\"target_modules\": [\"q\"], \"layers_to_transform\": 2, \"layers_pattern\": \"h\"}"));
        assertEquals(List.of(2), t.layersToTransform());
        assertEquals(List.of("h"), t.layersPattern());
        ObjectNode out = json.createObjectNode();
        t.writeHfJson(out);
        assertEquals(t, TargetSpec.fromHfJson(out));
        assertNull(TargetSpec.fromHfJson(json.readTree("{}")).targets(), "absent: the architecture's default");
    }
}
