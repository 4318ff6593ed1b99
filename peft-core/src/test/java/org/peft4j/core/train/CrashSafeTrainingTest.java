package org.peft4j.core.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.io.SafetensorsFile;
import org.peft4j.core.kernel.KernelChoice;
import org.peft4j.core.model.CausalLmTask;
import org.peft4j.core.model.TokenBatch;
import org.peft4j.core.model.gpt2.Gpt2Model;
import org.peft4j.core.nn.Module;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.param.ParamRegistry;
import org.peft4j.core.testing.TinyModels;

/**
 * Training survives being killed: a run killed with SIGKILL at a random step (a child process), then
 * resumed, ends with bit-identical params to an uninterrupted run; a kill during a save never leaves a
 * half-written checkpoint; a NaN stops training naming the step and the param, or is skipped and counted.
 */
class CrashSafeTrainingTest {
    private static final int STEPS = 240;

    @TempDir
    Path dir;

    private static void assertSameParams(Path expected, Path actual) throws IOException {
        try (SafetensorsFile a = SafetensorsFile.open(expected); SafetensorsFile b = SafetensorsFile.open(actual)) {
            assertEquals(a.names(), b.names());
            for (String name : a.names()) {
                assertEquals(a.rawBytes(name), b.rawBytes(name), name + " is bit-identical");
            }
        }
    }

    private Process child(Path runDir) throws IOException {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules", "jdk.incubator.vector", "-Xmx512m", "-cp", System.getProperty("java.class.path"),
                CheckpointedRun.class.getName(), runDir.toString(), Integer.toString(STEPS)));
        return new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(runDir.resolve("child.log").toFile()).start();
    }

    /** Every checkpoint directory that exists is complete and loads into a fresh model. */
    private static void assertCheckpointsComplete(Path root) throws IOException {
        try (var children = Files.list(root)) {
            for (Path p : children.toList()) {
                String name = p.getFileName().toString();
                if (name.startsWith("checkpoint-")) {
                    assertTrue(Files.isRegularFile(p.resolve(TrainingCheckpoint.STATE)), p + " is complete");
                    try (SafetensorsFile params = SafetensorsFile.open(p.resolve(TrainingCheckpoint.PARAMS));
                            SafetensorsFile state = SafetensorsFile.open(p.resolve(TrainingCheckpoint.OPTIMIZER))) {
                        assertFalse(params.names().isEmpty());
                        assertEquals(params.names(), state.names());
                    }
                } else {
                    assertTrue(name.startsWith(".partial-"), "only checkpoints and a partial directory: " + p);
                }
            }
        }
    }

    @Test
    void killedAndResumedRunEqualsUninterruptedRun() throws Exception {
        Path uninterrupted = CheckpointedRun.run(Files.createDirectories(dir.resolve("uninterrupted")), STEPS, false);
        SplittableRandom rng = new SplittableRandom(System.nanoTime());
        Path killed = Files.createDirectories(dir.resolve("killed"));
        Process process = child(killed);
        int killAfter = 20 + rng.nextInt(STEPS / 2);
        Path checkpoints = killed.resolve("checkpoints");
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(3);
        while (process.isAlive() && TrainingCheckpoint.latest(checkpoints).map(TrainingCheckpoint.Info::step).orElse(0) < killAfter) {
            assertTrue(System.nanoTime() < deadline, "the child reached no step " + killAfter + ": " + Files.readString(killed.resolve("child.log")));
            Thread.sleep(rng.nextInt(3));
        }
        assertTrue(process.isAlive(), "the child must still be running when it is killed: " + Files.readString(killed.resolve("child.log")));
        process.destroyForcibly();                                         // SIGKILL
        assertTrue(process.waitFor(1, TimeUnit.MINUTES));
        int reached = TrainingCheckpoint.latest(checkpoints).orElseThrow().step();
        assertTrue(reached >= killAfter && reached < STEPS, "killed after step " + reached);
        assertCheckpointsComplete(checkpoints);
        Path resumed = CheckpointedRun.run(killed, STEPS, true);
        assertSameParams(uninterrupted, resumed);
    }

    @Test
    void killsDuringSavesNeverLeaveAHalfWrittenCheckpoint() throws Exception {
        SplittableRandom rng = new SplittableRandom(System.nanoTime());
        Path runDir = Files.createDirectories(dir.resolve("saves"));
        Path checkpoints = runDir.resolve("checkpoints");
        for (int attempt = 0; attempt < 3; attempt++) {
            Process process = child(runDir);
            long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(3);
            while (process.isAlive() && TrainingCheckpoint.latest(checkpoints).isEmpty()) {
                assertTrue(System.nanoTime() < deadline, Files.readString(runDir.resolve("child.log")));
                Thread.sleep(1);
            }
            Thread.sleep(rng.nextInt(40));                                 // somewhere in a step or in a save
            process.destroyForcibly();
            assertTrue(process.waitFor(1, TimeUnit.MINUTES));
            assertCheckpointsComplete(checkpoints);
        }
    }

    @Test
    void resumingRefusesAnotherRun() throws Exception {
        Path runDir = Files.createDirectories(dir.resolve("other"));
        CheckpointedRun.run(runDir, 6, false);
        Gpt2Model model = Gpt2Model.random(TinyModels.tinyGpt2(), 3, DataType.FLOAT, KernelChoice.AUTO);
        new ParamRegistry(model).unfreezeAll();
        TrainerConfig config = TrainerConfig.builder().adam(1e-3).maxSteps(6).seed(7).resumeFrom(runDir.resolve("checkpoints")).build();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new Trainer(config).fit(new CausalLmTask(model), TrainerTest.patternData(13, 2, 8, 4, 31), null));
        assertTrue(e.getMessage().contains("checkpoint-6: param 'transformer.wte.weight' is FLOAT [13, 16] in the checkpoint but FLOAT [13, 8]"),
                e.getMessage());
        Gpt2Model same = Gpt2Model.random(org.peft4j.core.model.gpt2.Gpt2Config.builder().vocabSize(13).nPositions(16).nEmbd(16).nLayer(2)
                .nHead(2).build(), 3, DataType.FLOAT, KernelChoice.AUTO);
        new ParamRegistry(same).unfreezeAll();
        TrainerConfig longer = TrainerConfig.builder().adam(1e-3).maxSteps(9).seed(7).resumeFrom(runDir.resolve("checkpoints")).build();
        e = assertThrows(IllegalArgumentException.class,
                () -> new Trainer(longer).fit(new CausalLmTask(same), TrainerTest.patternData(13, 2, 8, 4, 31), null));
        assertTrue(e.getMessage().contains("run of 6 steps with seed 7, this run has 9 steps"), e.getMessage());
    }

    /** The task of a tiny GPT-2 whose gradient of one param turns NaN in the backward of step {@code badStep} (1-based). */
    private static TrainableTask<TokenBatch> poisonedAt(Gpt2Model model, int badStep, String param) {
        CausalLmTask task = new CausalLmTask(model);
        int[] calls = {0};
        return new TrainableTask<>() {
            @Override
            public Module module() {
                return task.module();
            }

            @Override
            public org.peft4j.core.kernel.Kernels kernels() {
                return task.kernels();
            }

            @Override
            public org.peft4j.core.train.Loss forward(TokenBatch batch, Tape tape) {
                return task.forward(batch, tape);
            }

            @Override
            public void backward(Tape tape, double scale) {
                task.backward(tape, scale);
                if (++calls[0] == badStep) {
                    INDArray grad = new ParamRegistry(model).get(param).grad();
                    grad.putScalar(0, Double.NaN);
                }
            }
        };
    }

    @Test
    void aNaNGradientStopsTrainingNamingTheStepAndTheParamAndKeepsTheLastCheckpoint() throws Exception {
        Gpt2Model model = Gpt2Model.random(TinyModels.tinyGpt2(), 3, DataType.FLOAT, KernelChoice.AUTO);
        ParamRegistry registry = new ParamRegistry(model);
        registry.unfreezeAll();
        String param = "transformer.h.1.mlp.c_fc.weight";
        Path checkpoints = dir.resolve("nan");
        TrainerConfig config = TrainerConfig.builder().adam(1e-3).maxSteps(10).checkpoints(checkpoints, 2).build();
        TrainingDivergedException e = assertThrows(TrainingDivergedException.class, () -> new Trainer(config)
                .fit(poisonedAt(model, 7, param), TrainerTest.patternData(13, 2, 8, 4, 31), null));
        assertEquals(7, e.step());
        assertTrue(e.getMessage().contains("step 7: the gradient of '" + param + "' holds NaN or infinite values"), e.getMessage());
        assertEquals(checkpoints.resolve("checkpoint-6"), e.lastCheckpoint());
        assertTrue(e.getMessage().contains("checkpoint-6"), e.getMessage());
        registry.all().forEach(np -> assertFalse(np.param().value().isNaN().any(), np.path() + " was not updated with the NaN"));
        try (SafetensorsFile saved = SafetensorsFile.open(checkpoints.resolve("checkpoint-6").resolve(TrainingCheckpoint.PARAMS))) {
            assertEquals(saved.read(param), registry.get(param).value(), "the params are those after step 6, as checkpointed");
        }
        assertNull(TrainingCheckpoint.list(checkpoints).stream().filter(i -> i.step() > 6).findAny().orElse(null));
    }

    @Test
    void skippingNonFiniteStepsCountsThem() {
        Gpt2Model model = Gpt2Model.random(TinyModels.tinyGpt2(), 3, DataType.FLOAT, KernelChoice.AUTO);
        new ParamRegistry(model).unfreezeAll();
        List<String> skipped = new ArrayList<>();
        TrainerConfig config = TrainerConfig.builder().adam(1e-3).maxSteps(10).skipNonFiniteSteps(true).listener(new TrainingListener() {
            @Override
            public void onSkippedStep(int step, String problem) {
                skipped.add(step + ": " + problem);
            }
        }).build();
        TrainResult result = new Trainer(config).fit(poisonedAt(model, 4, "transformer.wte.weight"), TrainerTest.patternData(13, 2, 8, 4, 31), null);
        assertEquals(1, result.skippedSteps());
        assertEquals(List.of("4: the gradient of 'transformer.wte.weight' holds NaN or infinite values"), skipped);
        assertEquals(9, result.losses().size());
        new ParamRegistry(model).all().forEach(np -> assertFalse(np.param().value().isNaN().any(), np.path()));
    }
}
