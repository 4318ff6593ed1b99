package org.peft4j.core.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.management.ManagementFactory;
import org.bytedeco.javacpp.Pointer;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;
import org.peft4j.core.kernel.KernelChoice;
import org.peft4j.core.model.CausalLmTask;
import org.peft4j.core.model.gpt2.Gpt2Config;
import org.peft4j.core.model.gpt2.Gpt2Model;
import org.peft4j.core.nn.Workspaces;
import org.peft4j.core.param.ParamRegistry;

/**
 * A long run must not grow the process's off-heap memory: activations live in a workspace that is
 * reused every step. Off-heap growth = resident-set growth, which is exact with a fixed, pre-touched
 * heap ({@code -Xms = -Xmx} and {@code -XX:+AlwaysPreTouch}, the pom's surefire argLine). Never calls
 * System.gc().
 *
 * <p>Measured here for scale: the same loop without the workspace grew off-heap memory by about
 * 5 MB per step (1.1 GB over 200 steps). With it, ND4J's small per-op native bookkeeping (op contexts,
 * buffer descriptors, freed when the collector runs) adds about 0.2 MB per step until a collection,
 * then the level stays flat: +17 MB from step 300 to step 1000.
 */
class MemoryGrowthTest {
    /**
     * The resident set minus a constant: the whole heap is committed and touched at start-up, so its
     * share of the resident set never changes and differences of this value are off-heap growth.
     * ({@code Runtime.totalMemory()} is not subtracted: the parallel collector leaves one survivor
     * space out of it and resizes survivors as it adapts, which moved it even with -Xms = -Xmx.)
     */
    private static long residentSet() {
        return Pointer.physicalBytes();
    }

    private static boolean fixedHeap(java.util.List<String> jvmArgs) {
        String min = null;
        String max = null;
        for (String arg : jvmArgs) {
            if (arg.startsWith("-Xms")) {
                min = arg.substring(4);
            } else if (arg.startsWith("-Xmx")) {
                max = arg.substring(4);
            }
        }
        return min != null && min.equals(max) && jvmArgs.contains("-XX:+AlwaysPreTouch");
    }

    @Test
    void offHeapMemoryStaysFlatOver220Steps() {
        java.util.List<String> jvmArgs = ManagementFactory.getRuntimeMXBean().getInputArguments();
        assertTrue(fixedHeap(jvmArgs),
                "run with a fixed pre-touched heap (the pom's surefire.argLine) so that the heap's share of the resident set is known: " + jvmArgs);
        Gpt2Config config = Gpt2Config.builder().vocabSize(64).nPositions(64).nEmbd(64).nLayer(2).nHead(4).dropout(0.1).build();
        Gpt2Model model = Gpt2Model.random(config, 1, DataType.FLOAT, KernelChoice.AUTO);
        new ParamRegistry(model).unfreezeAll();
        long[] offHeapAt = new long[3];
        long[] workspaceAt = new long[3];
        TrainingListener probe = new TrainingListener() {
            @Override
            public void onStep(StepInfo info) {
                int slot = info.step() == 20 ? 0 : info.step() == 120 ? 1 : info.step() == 220 ? 2 : -1;
                if (slot >= 0) {
                    offHeapAt[slot] = residentSet();
                    workspaceAt[slot] = Nd4j.getWorkspaceManager().getWorkspaceForCurrentThread(Workspaces.CONFIG, Workspaces.TRAIN)
                            .getCurrentSize();
                }
            }
        };
        new Trainer(TrainerConfig.builder().adam(1e-3).maxSteps(220).listener(probe).build())
                .fit(new CausalLmTask(model), TrainerTest.patternData(64, 8, 32, 16, 5), null);
        long workspace = workspaceAt[0];
        assertTrue(workspace > 1_000_000, "the step's activations live in the workspace: " + workspace + " bytes");
        assertEquals(workspace, workspaceAt[2], "the workspace keeps the size it learned in its first loop");
        long growth = offHeapAt[2] - offHeapAt[0];
        System.out.printf("workspace %,d bytes/step; off-heap at steps 20/120/220: %,d %,d %,d (growth %,d)%n", workspace, offHeapAt[0],
                offHeapAt[1], offHeapAt[2], growth);
        assertTrue(growth < 96L << 20, "off-heap memory grew by " + growth + " bytes over 200 steps (workspace " + workspace + " bytes/step)");
    }
}
