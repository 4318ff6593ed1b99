package org.peft4j.examples;

import java.nio.file.Path;
import org.peft4j.core.data.ClassificationBatches;
import org.peft4j.core.data.ClassificationData;
import org.peft4j.core.data.JsonlDataset;
import org.peft4j.core.model.BuiltinModel;
import org.peft4j.core.model.Builtins;
import org.peft4j.core.model.LoadOptions;
import org.peft4j.core.model.ModelHead;
import org.peft4j.core.model.SequenceClassificationTask;
import org.peft4j.core.model.SequenceClassifier;
import org.peft4j.core.tokenizer.HfTokenizer;
import org.peft4j.core.train.EvalResult;
import org.peft4j.core.train.ProgressLogger;
import org.peft4j.core.train.Trainer;
import org.peft4j.core.train.TrainerConfig;
import org.peft4j.core.tuner.PeftModel;
import org.peft4j.core.tuner.TaskType;
import org.peft4j.lora.LoraConfig;

/**
 * The README's code example: LoRA on all-MiniLM-L6-v2 for sentence acceptability. Make the data first
 * with {@code bin/peft4j data acceptability --out runs/acceptability}, then run
 * {@code java -cp examples/target/peft4j.jar org.peft4j.examples.LoraMiniLmExample [dataDir] [outDir]}.
 */
public final class LoraMiniLmExample {
    private LoraMiniLmExample() {
    }

    public static void main(String[] args) throws Exception {
        Path data = Path.of(args.length > 0 ? args[0] : "runs/acceptability");
        Path out = Path.of(args.length > 1 ? args[1] : "runs/minilm-lora-example");
        ClassificationData train = JsonlDataset.classification(data.resolve("train.jsonl"));
        ClassificationData dev = JsonlDataset.classification(data.resolve("dev.jsonl"), train.labelSet());

        BuiltinModel minilm = Builtins.resolve("builtin:all-MiniLM-L6-v2");
        SequenceClassifier model = (SequenceClassifier) minilm.load(LoadOptions.classification(ModelHead.SEQUENCE_CLASSIFICATION, 2));
        LoraConfig lora = LoraConfig.builder().r(8).loraAlpha(16).loraDropout(0.1).taskType(TaskType.SEQ_CLS).build();
        try (PeftModel<SequenceClassifier> peft = PeftModel.builder(model).adapter("default", lora).seed(42).build();
                HfTokenizer tokenizer = minilm.openTokenizer()) {
            peft.printTrainableParameters();            // LoRA on query and value, the classifier head trained in full
            TrainerConfig training = TrainerConfig.builder().adamW(5e-4, 0.01).epochs(1).warmupSteps(30)
                    .listener(new ProgressLogger(50)).build();
            EvalResult result = new Trainer(training).fit(peft.trainableTask(new SequenceClassificationTask(model)),
                    ClassificationBatches.training(train, tokenizer, 64, 32, 42), ClassificationBatches.evaluation(dev, tokenizer, 64, 32))
                    .finalEval();
            System.out.printf("dev accuracy %.4f, MCC %.4f%n", result.metrics().get("accuracy"), result.metrics().get("mcc"));
            peft.save(out);                              // adapter_config.json + adapter_model.safetensors, HF PEFT's layout
        }
    }
}
