package org.peft4j.lora.adalora;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;
import org.peft4j.core.kernel.KernelChoice;
import org.peft4j.core.model.CausalLmTask;
import org.peft4j.core.model.TokenBatch;
import org.peft4j.core.model.gpt2.Gpt2Model;
import org.peft4j.core.nn.Init;
import org.peft4j.core.nn.Linear;
import org.peft4j.core.nn.Linear.WeightLayout;
import org.peft4j.core.param.Param;
import org.peft4j.core.testing.TinyModels;
import org.peft4j.core.train.BatchSource;
import org.peft4j.core.train.Trainer;
import org.peft4j.core.train.TrainerConfig;
import org.peft4j.core.tuner.PeftModel;
import org.peft4j.core.tuner.TunerLayer;

/** The budget schedule, the importance scores, the masking, the config's rules and rank allocation inside the plain Trainer. */
class RankAllocatorTest {

    @Test
    void budgetFollowsTheCubicSchedule() {
        // b0 = 12·4 = 48, bT = 8·4 = 32, tinit 10, tfinal 20, total 100: the budgeting phase is steps 11..80
        BudgetSchedule s = new BudgetSchedule(48, 32, 10, 20, 5, 100);
        assertEquals(48, s.budget(0));
        assertEquals(48, s.budget(10), "up to tinit the budget stays");
        assertEquals(47, s.budget(11), "16·(69/70)³ + 32 = 47.33");
        assertEquals(34, s.budget(40), "16·(4/7)³ + 32 = 34.99");
        assertEquals(32, s.budget(79), "16·(1/70)³ + 32 = 32.00005");
        assertEquals(32, s.budget(80));
        assertEquals(32, s.budget(99));
        assertEquals(80, s.finalStep());
        assertTrue(!s.allocates(10) && !s.allocates(11) && s.allocates(15) && !s.allocates(16), "every deltaT = 5 steps after tinit");
        assertTrue(s.allocates(80) && s.allocates(81), "at and after total_step − tfinal every step");
        for (int step = 11; step <= 80; step++) {
            double rest = 1 - (step - 10) / 70.0;
            assertEquals((int) Math.floor(16 * rest * rest * rest + 32), s.budget(step), "step " + step);
        }
    }

    @Test
    void configFollowsHfRules() {
        AdaLoraConfig d = AdaLoraConfig.builder().build();
        assertEquals(List.of(12, 8, 0, 0, 1), List.of(d.initR(), d.targetR(), d.tinit(), d.tfinal(), d.deltaT()));
        assertEquals(List.of(0.85, 0.85, 0.5, 8.0), List.of(d.beta1(), d.beta2(), d.orthRegWeight(), d.loraAlpha()));
        assertEquals(null, d.totalStep(), "unset: the trainer fills it in");
        int[][] valid = {{100, 0, 0}, {100, 10, 10}, {100, 79, 20}, {100, 80, 19}};
        for (int[] v : valid) {
            AdaLoraConfig.builder().totalStep(v[0]).tinit(v[1]).tfinal(v[2]).build();
        }
        int[][] invalid = {{100, 20, 80}, {100, 80, 20}, {10, 20, 0}, {10, 0, 10}, {10, 10, 0}, {10, 20, 20}, {10, 0, 20}};
        for (int[] v : invalid) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> AdaLoraConfig.builder().totalStep(v[0]).tinit(v[1]).tfinal(v[2]).build());
            assertTrue(e.getMessage().contains("don't allow for a budgeting phase"), e.getMessage());
        }
        IllegalArgumentException negative = assertThrows(IllegalArgumentException.class, () -> AdaLoraConfig.builder().orthRegWeight(-0.5).build());
        assertEquals("`orth_reg_weight` should be greater than or equal to 0, but the value passed is -0.5", negative.getMessage());
        assertThrows(IllegalArgumentException.class, () -> AdaLoraConfig.builder().targetR(13).build(), "target_r > init_r");
        assertThrows(IllegalArgumentException.class, () -> AdaLoraConfig.builder().deltaT(0).build());
        assertThrows(IllegalArgumentException.class, () -> AdaLoraConfig.builder().beta1(1.0).build());
        assertThrows(IllegalArgumentException.class, () -> AdaLoraConfig.builder().initR(2).targetR(1)
                .rankPattern(Map.of("a.lora_E", List.of(true))).build(), "a rank_pattern entry has init_r booleans");
        var json = AdaLoraConfig.builder().initR(4).targetR(2).totalStep(30).tinit(3).tfinal(5).deltaT(2).orthRegWeight(0.1)
                .rankPattern(Map.of("x.q.lora_E", List.of(true, false, true, true))).targetModules("q").build().toHfJson();
        assertEquals("ADALORA", json.get("peft_type").asText());
        assertEquals(json, AdaLoraConfig.fromHfJson(json).toHfJson(), "JSON round trip");
        assertEquals(3, AdaLoraConfig.fromHfJson(json).rankFor("x.q"));
        json.put("use_dora", true);
        assertTrue(assertThrows(IllegalArgumentException.class, () -> AdaLoraConfig.fromHfJson(json)).getMessage().contains("ADALORA does not support DoRA"));
    }

    /** One Linear 1 → 1 with two triplets whose values and gradients are set by hand; β1 = β2 = 0.5. */
    @Test
    void importanceAndScoresOnAHandComputedCase() {
        AdaLoraConfig config = AdaLoraConfig.builder().initR(2).targetR(1).beta1(0.5).beta2(0.5).build();
        AdaLoraLinear layer = tinyLayer(config, 1, 1, "m");
        set(layer.loraA("default"), new double[] {1, -2}, new double[] {0.5, 1});       // A [2, 1]
        set(layer.loraE("default"), new double[] {0.5, 3}, new double[] {2, 0.1});       // E [2, 1]
        set(layer.loraB("default"), new double[] {2, -1}, new double[] {-1, 0.25});      // B [1, 2]
        RankAllocator allocator = new RankAllocator("default", config, Map.<String, AdaLoraLayer>of("m", layer), c -> { });
        allocator.onStart(10);
        // I = |w·g|: A (0.5, 2), E (1, 0.3), B (2, 0.25); after one step Ī = I/2 and Ū = |I − Ī|/2 = I/4, so Ī·Ū = I²/8:
        // triplet 0 = 1/8 + 0.25/8 + 4/8 = 0.65625, triplet 1 = 0.09/8 + 4/8 + 0.0625/8 = 0.5190625
        allocator.beforeUpdate(0);
        allocator.updateImportance();
        assertArrayEquals(new double[] {0.65625, 0.5190625}, allocator.tripletScores(layer), 1e-12);
        // the same I again: Ī = 3I/4, Ū = (I/4)/2 + |I − 3I/4|/2 = I/4, Ī·Ū = 3I²/16:
        // triplet 0 = 3/16·(1 + 0.25 + 4) = 0.984375, triplet 1 = 3/16·(0.09 + 4 + 0.0625) = 0.77859375
        allocator.beforeUpdate(1);
        allocator.updateImportance();
        assertArrayEquals(new double[] {0.984375, 0.77859375}, allocator.tripletScores(layer), 1e-12);
        allocator.maskToBudget(1, 1);
        assertEquals(List.of(true, false), layer.keptTriplets("default"), "the lower-scored triplet 1 is masked");
        assertEquals(0.0, layer.loraE("default").value().getDouble(1, 0));
        assertEquals(0.5, layer.loraE("default").value().getDouble(0, 0), "the kept λ is untouched");
        assertEquals(Map.of("m.lora_E", List.of(true, false)), allocator.config().rankPattern());
    }

    /** Random gradients over a whole schedule: every allocation keeps exactly the scheduled budget, and after total_step − tfinal the target. */
    @Test
    void allocationsKeepTheScheduledBudget() {
        AdaLoraConfig config = AdaLoraConfig.builder().initR(4).targetR(2).tinit(3).tfinal(4).deltaT(2).build();
        Map<String, AdaLoraLayer> layers = new LinkedHashMap<>();
        for (int i = 0; i < 3; i++) {
            layers.put("m" + i, tinyLayer(config, 3, 2, "m" + i));
        }
        List<AdaLoraConfig> updates = new ArrayList<>();
        RankAllocator allocator = new RankAllocator("default", config, layers, updates::add);
        allocator.onStart(20);
        assertEquals(20, updates.get(0).totalStep(), "total_step filled in from the trainer's count");
        SplittableRandom rng = new SplittableRandom(5);
        for (int step = 0; step < 20; step++) {
            for (AdaLoraLayer l : layers.values()) {
                for (Param p : List.of(l.loraA("default"), l.loraE("default"), l.loraB("default"))) {
                    p.grad().assign(Init.normal(DataType.DOUBLE, 1.0, rng, p.shape()));
                    p.value().addi(Init.normal(DataType.DOUBLE, 0.1, rng, p.shape()));     // what an update would do
                }
            }
            allocator.beforeUpdate(step);
            allocator.afterUpdate(step);
            int kept = layers.values().stream().mapToInt(l -> l.rank("default")).sum();
            long nonZero = layers.values().stream().mapToLong(l -> l.loraE("default").value().neq(0).castTo(DataType.INT32).sumNumber().longValue()).sum();
            if (allocator.schedule().allocates(step)) {
                assertEquals(nonZero, kept, "step " + step + ": right after an allocation exactly the kept λ are non-zero");
            }
            if (step >= 16) {
                assertEquals(6, kept, "from total_step − tfinal = 16 on, the target budget 2·3");
            }
        }
        List<RankAllocator.Allocation> history = allocator.history();
        assertEquals(List.of(4, 6, 8, 10, 12, 14, 16), history.stream().map(RankAllocator.Allocation::step).toList(),
                "allocations every deltaT = 2 steps after tinit = 3, then the final one at 16");
        for (RankAllocator.Allocation a : history) {
            assertEquals(allocator.schedule().budget(a.step()), a.budget(), "budget at step " + a.step());
        }
        assertEquals(6, allocator.config().rankPattern().values().stream().mapToLong(p -> p.stream().filter(k -> k).count()).sum());
    }

    /** The plain Trainer, with no call from the user, fills in total_step, allocates the ranks and records rank_pattern. */
    @Test
    void plainTrainerRunChangesRanks() {
        Gpt2Model gpt2 = TinyModels.gpt2(TinyModels.tinyGpt2(), 41, DataType.FLOAT, KernelChoice.AUTO);
        AdaLoraConfig config = AdaLoraConfig.builder().initR(4).targetR(2).tinit(2).tfinal(3).targetModules("c_attn", "c_fc").build();
        try (PeftModel<Gpt2Model> peft = PeftModel.builder(gpt2).adapter("default", config).seed(3).build()) {
            TokenBatch batch = TinyModels.paddedBatch();
            BatchSource<TokenBatch> data = BatchSource.of(java.util.List.of(batch));
            new Trainer(TrainerConfig.builder().adam(1e-2).maxSteps(12).build()).fit(peft.trainableTask(new CausalLmTask(gpt2)), data, null);
            AdaLoraConfig after = (AdaLoraConfig) peft.config("default");
            assertEquals(12, after.totalStep(), "total_step taken from the trainer's schedule");
            assertEquals(4, after.rankPattern().size());
            int total = 0;
            List<Integer> ranks = new ArrayList<>();
            for (TunerLayer layer : peft.tunerLayers().values()) {
                AdaLoraLinear l = (AdaLoraLinear) layer;
                ranks.add(l.rank("default"));
                total += l.rank("default");
                assertEquals(l.keptTriplets("default"), after.keptFor(peft.tunerLayers().entrySet().stream()
                        .filter(e -> e.getValue() == layer).findFirst().orElseThrow().getKey()));
            }
            assertEquals(8, total, "target_r 2 × 4 modules after total_step − tfinal: " + ranks);
            assertNotEquals(List.of(4, 4, 4, 4), ranks);
        }
    }

    /** AD-02: two AdaLoRA adapters may be held, but only one may train. */
    @Test
    void onlyOneAdaLoraAdapterTrains() {
        Gpt2Model gpt2 = TinyModels.gpt2(TinyModels.tinyGpt2(), 43, DataType.FLOAT, KernelChoice.AUTO);
        AdaLoraConfig config = AdaLoraConfig.builder().initR(4).targetR(2).targetModules("c_attn").build();
        try (PeftModel<Gpt2Model> peft = PeftModel.builder(gpt2).adapter("default", config).adapter("other", config).seed(3).build()) {
            CausalLmTask task = new CausalLmTask(gpt2);
            assertTrue(peft.trainableTask(task).trainingHook() instanceof RankAllocator, "one active adapter trains");
            peft.setActiveAdapters(List.of("default", "other"));
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> peft.trainableTask(task).trainingHook());
            assertTrue(e.getMessage().contains("AdaLoRA supports only 1 trainable adapter"), e.getMessage());
        }
    }

    private static AdaLoraLinear tinyLayer(AdaLoraConfig config, int in, int out, String path) {
        SplittableRandom rng = new SplittableRandom(path.hashCode());
        Linear base = new Linear(Param.frozen("weight", Init.uniform(DataType.DOUBLE, 0.5, rng, out, in)), null, WeightLayout.OUT_IN);
        AdaLoraLinear layer = new AdaLoraLinear(base);
        layer.addAdapter("default", path, config, rng);
        layer.adapterParams("default").values().forEach(p -> p.setTrainable(true));
        layer.setActiveAdapters(List.of("default"));
        return layer;
    }

    private static void set(Param p, double[] value, double[] grad) {
        p.value().assign(Nd4j.createFromArray(value).reshape(p.shape()));
        p.grad().assign(Nd4j.createFromArray(grad).reshape(p.shape()));
    }
}
