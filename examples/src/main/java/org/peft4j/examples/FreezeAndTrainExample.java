package org.peft4j.examples;

import java.util.regex.Pattern;
import org.nd4j.linalg.api.buffer.DataType;
import org.peft4j.core.data.TextCorpus;
import org.peft4j.core.data.TokenWindows;
import org.peft4j.core.kernel.KernelChoice;
import org.peft4j.core.model.CausalLmTask;
import org.peft4j.core.model.gpt2.Gpt2Config;
import org.peft4j.core.model.gpt2.Gpt2Model;
import org.peft4j.core.param.ParamRegistry;
import org.peft4j.core.train.ProgressLogger;
import org.peft4j.core.train.TrainResult;
import org.peft4j.core.train.Trainer;
import org.peft4j.core.train.TrainerConfig;

/**
 * The README's code example: a byte-level GPT-2 style model on Europarl text, everything frozen except
 * the last block and the final norm, trained with AdamW under a warmup schedule.
 * Run: {@code java -cp examples/target/peft4j.jar org.peft4j.examples.FreezeAndTrainExample}.
 */
public final class FreezeAndTrainExample {
    private FreezeAndTrainExample() {
    }

    public static void main(String[] args) {
        Gpt2Config config = Gpt2Config.builder().vocabSize(256).nPositions(128).nEmbd(128).nLayer(4).nHead(4).dropout(0.0).build();
        Gpt2Model model = Gpt2Model.random(config, 42, DataType.FLOAT, KernelChoice.AUTO);
        ParamRegistry params = new ParamRegistry(model);              // every param frozen at first
        params.unfreezeMatching(Pattern.compile("transformer\\.(h\\.3|ln_f)\\..*"));
        System.out.println(params.summary());   // trainable params: 198,528 || all params: 842,496 || trainable%: 23.5643

        int[] text = TextCorpus.europarl(3000).tokens();              // UTF-8 bytes as token ids
        TokenWindows batches = TokenWindows.random(text, 16, 128, 200, 42);
        TrainerConfig training = TrainerConfig.builder()
                .adamW(2e-3, 0.01).warmupSteps(20).maxSteps(200)
                .listener(new ProgressLogger(20))
                .build();
        TrainResult result = new Trainer(training).fit(new CausalLmTask(model), batches, null);
        System.out.printf("loss %.3f -> %.3f%n", result.losses().get(0), result.lastLoss());
    }
}
