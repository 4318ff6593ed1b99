package org.peft4j.core.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.io.SafetensorsFile;
import org.peft4j.core.kernel.KernelChoice;
import org.peft4j.core.model.CausalLmTask;
import org.peft4j.core.model.TokenBatch;
import org.peft4j.core.model.gpt2.Gpt2Config;
import org.peft4j.core.model.gpt2.Gpt2Model;
import org.peft4j.core.param.ParamRegistry;
import org.peft4j.core.testing.TinyModels;

class TrainerTest {

    /** Fixed batches of random tokens from a small repeating "language": token t+1 = (3·t + 1) mod vocab. */
    static BatchSource<TokenBatch> patternData(int vocab, int batch, int seq, int batches, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        TokenBatch[] data = new TokenBatch[batches];
        for (int i = 0; i < batches; i++) {
            int[][] rows = new int[batch][seq];
            for (int b = 0; b < batch; b++) {
                rows[b][0] = rng.nextInt(vocab);
                for (int t = 1; t < seq; t++) {
                    rows[b][t] = (3 * rows[b][t - 1] + 1) % vocab;
                }
            }
            data[i] = TokenBatch.causalLm(rows);
        }
        return BatchSource.of(List.of(data));
    }

    private static Gpt2Model model(long seed, double dropout) {
        Gpt2Config config = Gpt2Config.builder().vocabSize(13).nPositions(16).nEmbd(16).nLayer(2).nHead(2).dropout(dropout).build();
        Gpt2Model model = Gpt2Model.random(config, seed, DataType.FLOAT, KernelChoice.AUTO);
        new ParamRegistry(model).unfreezeAll();
        return model;
    }

    @Test
    void batchSourceOfHoldsItsBatchesForEveryEpoch() {
        TokenBatch a = TokenBatch.causalLm(new int[][] {{1, 2, 3}});
        TokenBatch b = TokenBatch.causalLm(new int[][] {{4, 5, 6}});
        List<TokenBatch> list = new java.util.ArrayList<>(List.of(a, b));
        BatchSource<TokenBatch> source = BatchSource.of(list);
        list.clear();                                                  // a copy: later changes to the list do not matter
        assertEquals(2, source.batchesPerEpoch());
        assertTrue(source.batch(0, 1) == b && source.batch(5, 0) == a, "the same batches in every epoch, in order");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> BatchSource.of(List.of()));
        assertTrue(e.getMessage().contains("at least one batch"), e.getMessage());
    }

    @Test
    void learnsASimplePatternAndEvaluates() {
        Gpt2Model model = model(1, 0.0);
        TrainResult r = new Trainer(TrainerConfig.builder().adamW(1e-2, 0.01).warmupSteps(10).maxSteps(300).build())
                .fit(new CausalLmTask(model), patternData(13, 4, 12, 10, 2), patternData(13, 4, 12, 2, 3));
        assertEquals(300, r.losses().size());
        assertTrue(r.losses().get(0) > Math.log(13) - 0.3, "starts near chance: " + r.losses().get(0));
        assertTrue(r.finalEval().loss() < 0.1, "the pattern is deterministic after the first token: " + r.finalEval().loss());
        assertEquals(Math.exp(r.finalEval().loss()), r.finalEval().metrics().get("perplexity"), 1e-9);
        assertEquals(2 * 4 * 11, r.finalEval().targets(), "shifted labels: seq-1 targets per row");
    }

    @Test
    void sameSeedGivesIdenticalLossesEvenWithDropout() {
        List<Double> a = runWithDropout(5);
        List<Double> b = runWithDropout(5);
        assertEquals(a, b, "bit-identical losses for the same seed");
        assertTrue(!a.equals(runWithDropout(6)), "another seed draws other dropout masks");
    }

    private List<Double> runWithDropout(long seed) {
        return new Trainer(TrainerConfig.builder().adam(1e-3).maxSteps(8).seed(seed).build())
                .fit(new CausalLmTask(model(7, 0.2)), patternData(13, 2, 10, 4, 8), null).losses();
    }

    @Test
    void gradientAccumulationOfTwoHalvesEqualsOneFullBatch() {
        // micro-batches with equal target counts: the mean of the two means is the mean over both
        BatchSource<TokenBatch> full = patternData(13, 4, 10, 1, 9);
        BatchSource<TokenBatch> halves = new BatchSource<>() {
            @Override
            public int batchesPerEpoch() {
                return 2;
            }

            @Override
            public TokenBatch batch(int epoch, int index) {
                TokenBatch b = full.batch(0, 0);
                int half = b.ids().length / 2;
                int[] ids = java.util.Arrays.copyOfRange(b.ids(), index * half, (index + 1) * half);
                return new TokenBatch(2, 10, ids, null, ids.clone());
            }
        };
        Gpt2Model one = model(11, 0.0);
        Gpt2Model two = model(11, 0.0);
        new Trainer(TrainerConfig.builder().sgd(0.5).maxSteps(1).noGradientClipping().decay(LearningRateSchedule.Decay.CONSTANT).build())
                .fit(new CausalLmTask(one), full, null);
        new Trainer(TrainerConfig.builder().sgd(0.5).maxSteps(1).gradientAccumulation(2).noGradientClipping()
                .decay(LearningRateSchedule.Decay.CONSTANT).build()).fit(new CausalLmTask(two), halves, null);
        List<ParamRegistry.NamedParam> a = new ParamRegistry(one).all();
        List<ParamRegistry.NamedParam> b = new ParamRegistry(two).all();
        for (int i = 0; i < a.size(); i++) {
            INDArray x = a.get(i).param().value();
            INDArray y = b.get(i).param().value();
            assertTrue(x.equalsWithEps(y, 1e-5), a.get(i).path());
        }
        assertTrue(!new ParamRegistry(one).get("transformer.ln_f.bias").value().equals(
                new ParamRegistry(model(11, 0.0)).get("transformer.ln_f.bias").value()), "the step changed the params");
    }

    @Test
    void warmupThenLinearDecayAsHf() {
        LearningRateSchedule s = new LearningRateSchedule(1e-3, 10, 110, LearningRateSchedule.Decay.LINEAR);
        assertEquals(0.0, s.valueAt(0, 0), 0.0);
        assertEquals(5e-4, s.valueAt(5, 0), 1e-15);
        assertEquals(1e-3, s.valueAt(10, 0), 1e-15);
        assertEquals(5e-4, s.valueAt(60, 0), 1e-15);
        assertEquals(0.0, s.valueAt(110, 0), 0.0);
        LearningRateSchedule cos = new LearningRateSchedule(1e-3, 0, 100, LearningRateSchedule.Decay.COSINE);
        assertEquals(5e-4, cos.valueAt(50, 0), 1e-15);
        assertThrows(IllegalArgumentException.class, () -> new LearningRateSchedule(1e-3, 20, 10, LearningRateSchedule.Decay.LINEAR));
    }

    @Test
    void clippingScalesToTheMaximumGlobalNorm() {
        Gpt2Model m = model(13, 0.0);
        List<ParamRegistry.NamedParam> params = new ParamRegistry(m).trainable();
        params.forEach(np -> np.param().grad().assign(1.0));
        long count = params.stream().mapToLong(np -> np.param().length()).sum();
        double norm = Trainer.clipGradients(params, 2.0);
        assertEquals(Math.sqrt(count), norm, 1e-3);
        double after = Math.sqrt(params.stream().mapToDouble(np -> Math.pow(np.param().grad().norm2Number().doubleValue(), 2)).sum());
        assertEquals(2.0, after, 1e-4);
    }

    @Test
    void checkpointsHoldTheTrainableParamsAndOptimizerStateAndKeepTheNewest(@TempDir Path dir) throws Exception {
        Gpt2Model m = Gpt2Model.random(TinyModels.tinyGpt2(), 17, DataType.FLOAT, KernelChoice.AUTO);
        ParamRegistry registry = new ParamRegistry(m);
        registry.unfreezeSuffix("ln_f.weight");
        registry.unfreezeSuffix("ln_f.bias");
        new Trainer(TrainerConfig.builder().adam(1e-2).maxSteps(6).checkpoints(dir, 2).build())
                .fit(new CausalLmTask(m), patternData(13, 2, 8, 2, 18), null);
        try (var files = Files.list(dir)) {
            assertEquals(List.of("checkpoint-4", "checkpoint-6"), files.map(p -> p.getFileName().toString()).sorted().toList(),
                    "the two newest checkpoints and nothing else (no partial directories)");
        }
        Path newest = dir.resolve("checkpoint-6");
        try (SafetensorsFile f = SafetensorsFile.open(newest.resolve(TrainingCheckpoint.PARAMS));
                SafetensorsFile o = SafetensorsFile.open(newest.resolve(TrainingCheckpoint.OPTIMIZER))) {
            assertEquals(java.util.Set.of("transformer.ln_f.weight", "transformer.ln_f.bias"), f.names());
            assertEquals(registry.get("transformer.ln_f.weight").value(), f.read("transformer.ln_f.weight"));
            assertEquals(2 * 8, o.read("transformer.ln_f.weight").length(), "Adam's two moments of the 8 weights");
        }
        assertEquals(6, TrainingCheckpoint.latest(dir).orElseThrow().step());
    }

    /** Double precision trains like float (the gradient checks use it): the loss falls, nothing mixes float in. */
    @Test
    void trainsADoublePrecisionModel() {
        for (KernelChoice kernels : KernelChoice.values()) {
            Gpt2Model m = Gpt2Model.random(Gpt2Config.builder().vocabSize(13).nPositions(16).nEmbd(8).nLayer(1).nHead(2).dropout(0.1).build(), 5,
                    DataType.DOUBLE, kernels);
            new ParamRegistry(m).unfreezeAll();
            TrainResult r = new Trainer(TrainerConfig.builder().adam(1e-2).maxSteps(30).build()).fit(new CausalLmTask(m), patternData(13, 2, 8, 2, 3),
                    null);
            assertTrue(r.lastLoss() < r.losses().get(0) * 0.8, kernels + ": " + r.losses());
            new ParamRegistry(m).all().forEach(np -> assertEquals(DataType.DOUBLE, np.param().value().dataType(), np.path()));
        }
    }

    @Test
    void refusesToTrainAFrozenModel() {
        Gpt2Model m = Gpt2Model.random(TinyModels.tinyGpt2(), 19, DataType.FLOAT, KernelChoice.AUTO);
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> new Trainer(TrainerConfig.builder().maxSteps(1).build()).fit(new CausalLmTask(m), patternData(13, 1, 4, 1, 1), null));
        assertTrue(e.getMessage().contains("every param is frozen"), e.getMessage());
    }

    @Test
    void configValidationNamesTheField() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> TrainerConfig.builder().gradientAccumulation(0).build());
        assertTrue(e.getMessage().contains("gradient accumulation"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> TrainerConfig.builder().adam(-1).build());
        assertTrue(e.getMessage().contains("learning rate"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> TrainerConfig.builder().checkpoints(null, 5).build());
        assertTrue(e.getMessage().contains("checkpoint directory"), e.getMessage());
    }

    @Test
    void lossCurveCsvHasARowPerStepAndEval(@TempDir Path dir) throws Exception {
        Path csv = dir.resolve("curve/loss.csv");
        new Trainer(TrainerConfig.builder().adam(1e-3).maxSteps(4).evalEvery(2).listener(new LossCsvWriter(csv)).listener(new ProgressLogger(2)).build())
                .fit(new CausalLmTask(model(21, 0.0)), patternData(13, 2, 6, 2, 22), patternData(13, 2, 6, 1, 23));
        List<String> lines = Files.readAllLines(csv);
        assertEquals(LossCsvWriter.HEADER, lines.get(0));
        assertEquals(1 + 4 + 2, lines.size(), "4 steps, an eval at step 2 and a final eval");
        assertTrue(lines.get(1).startsWith("1,0,"));
    }
}
