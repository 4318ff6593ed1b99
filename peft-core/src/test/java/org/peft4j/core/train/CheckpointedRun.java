package org.peft4j.core.train;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.io.SafetensorsWriter;
import org.peft4j.core.kernel.KernelChoice;
import org.peft4j.core.model.CausalLmTask;
import org.peft4j.core.model.gpt2.Gpt2Config;
import org.peft4j.core.model.gpt2.Gpt2Model;
import org.peft4j.core.param.ParamRegistry;

/**
 * One training run of {@link CrashSafeTrainingTest}, in this JVM or as a child process that the test kills:
 * a small GPT-2 with dropout, every param trained with AdamW, a checkpoint after every step under
 * {@code dir/checkpoints}; at the end the params go to {@code dir/final.safetensors}.
 * Usage: {@code CheckpointedRun DIR STEPS [resume]}.
 */
public final class CheckpointedRun {
    private CheckpointedRun() {
    }

    static Path run(Path dir, int steps, boolean resume) throws IOException {
        Gpt2Config config = Gpt2Config.builder().vocabSize(13).nPositions(16).nEmbd(16).nLayer(2).nHead(2).dropout(0.1).build();
        Gpt2Model model = Gpt2Model.random(config, 23, DataType.FLOAT, KernelChoice.AUTO);
        ParamRegistry registry = new ParamRegistry(model);
        registry.unfreezeAll();
        TrainerConfig.Builder b = TrainerConfig.builder().adamW(1e-2, 0.01).maxSteps(steps).warmupSteps(steps / 10).seed(7)
                .checkpoints(dir.resolve("checkpoints"), 1).keepCheckpoints(3);
        if (resume) {
            b.resumeFrom(dir.resolve("checkpoints"));
        }
        new Trainer(b.build()).fit(new CausalLmTask(model), TrainerTest.patternData(13, 2, 8, 4, 31), null);
        Map<String, INDArray> params = new LinkedHashMap<>();
        registry.all().forEach(np -> params.put(np.path(), np.param().value()));
        Path out = dir.resolve("final.safetensors");
        SafetensorsWriter.write(out, params);
        return out;
    }

    public static void main(String[] args) throws IOException {
        run(Path.of(args[0]), Integer.parseInt(args[1]), args.length > 2 && args[2].equals("resume"));
    }
}
