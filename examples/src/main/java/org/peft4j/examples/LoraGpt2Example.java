package org.peft4j.examples;

import java.nio.file.Path;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.data.TextCorpus;
import org.peft4j.core.data.TokenWindows;
import org.peft4j.core.kernel.KernelChoice;
import org.peft4j.core.model.CausalLmTask;
import org.peft4j.core.model.gpt2.Gpt2Config;
import org.peft4j.core.model.gpt2.Gpt2Model;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.train.EvalResult;
import org.peft4j.core.train.ProgressLogger;
import org.peft4j.core.train.TrainResult;
import org.peft4j.core.train.Trainer;
import org.peft4j.core.train.TrainerConfig;
import org.peft4j.core.tuner.PeftModel;
import org.peft4j.core.tuner.TaskType;
import org.peft4j.lora.LoraConfig;

/**
 * LoRA on a byte-level GPT-2 style model: wrap the attention projections, train only the adapter on
 * Europarl text with the {@link Trainer}, save it in HF PEFT's layout and load it again onto a fresh
 * copy of the base model. The base model here is randomly initialised (seed 42), so the adapter has
 * everything to learn; with a pretrained model only the line that builds {@code base} changes.
 *
 * <p>Run: {@code java -cp examples/target/peft4j.jar org.peft4j.examples.LoraGpt2Example [outDir] [steps]}
 * (defaults {@code runs/lora-gpt2} and 150).
 */
public final class LoraGpt2Example {
    private LoraGpt2Example() {
    }

    public static void main(String[] args) {
        Path out = Path.of(args.length > 0 ? args[0] : "runs/lora-gpt2");
        int steps = args.length > 1 ? Integer.parseInt(args[1]) : 150;

        Gpt2Config config = Gpt2Config.builder().vocabSize(256).nPositions(128).nEmbd(128).nLayer(4).nHead(4).dropout(0.0).build();
        Gpt2Model base = Gpt2Model.random(config, 42, DataType.FLOAT, KernelChoice.AUTO);

        TextCorpus.Split text = TextCorpus.europarl(3000).split(0.05, 42);            // UTF-8 bytes as token ids
        TokenWindows train = TokenWindows.random(text.train().tokens(), 8, 128, 200, 42);
        TokenWindows validation = TokenWindows.evaluation(text.validation().tokens(), 8, 128, 8);

        LoraConfig lora = LoraConfig.builder()
                .r(8).loraAlpha(16).loraDropout(0.05)
                .targetModules("c_attn", "c_proj")                                       // attention and MLP output projections
                .taskType(TaskType.CAUSAL_LM)
                .build();
        INDArray probe;
        try (PeftModel<Gpt2Model> peft = PeftModel.builder(base).adapter("default", lora).baseModelName("peft4j/byte-gpt2-random-42").seed(42).build()) {
            peft.printTrainableParameters();     // trainable params: 45,056 || all params: 887,552 || trainable%: 5.0764

            CausalLmTask task = new CausalLmTask(base);
            EvalResult before = Trainer.evaluate(task, validation);
            TrainerConfig training = TrainerConfig.builder()
                    .adamW(3e-3, 0.0).warmupSteps(Math.min(10, steps)).maxSteps(steps).seed(42)
                    .listener(new ProgressLogger(25))
                    .build();
            TrainResult result = new Trainer(training).fit(peft.trainableTask(task), train, validation);
            System.out.printf("validation loss %.3f -> %.3f after %d steps%n", before.loss(), result.finalEval().loss(), result.steps());

            peft.save(out);                      // out/adapter_config.json + out/adapter_model.safetensors
            probe = logits(base);
        }                                        // close(): the base model is plain again

        Gpt2Model fresh = Gpt2Model.random(config, 42, DataType.FLOAT, KernelChoice.AUTO);
        try (PeftModel<Gpt2Model> loaded = PeftModel.load(fresh, out)) {
            double difference = logits(fresh).sub(probe).amaxNumber().doubleValue();
            System.out.printf("reloaded from %s: max |logit difference| = %.2e%n", out, difference);
            Gpt2Model merged = loaded.mergeAndUnload();                                  // a plain GPT-2 with W + s·B·A
            System.out.printf("merged into the base weights: max |logit difference| = %.2e%n",
                    logits(merged).sub(probe).amaxNumber().doubleValue());
        }
    }

    private static INDArray logits(Gpt2Model model) {
        try (Tape tape = Tape.inference(model.kernels())) {
            return model.forward(org.peft4j.core.model.TokenBatch.causalLm(new int[][] {"The European Parliament".chars().toArray()}), tape).dup();
        }
    }
}
