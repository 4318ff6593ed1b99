package org.peft4j.lora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.peft4j.lora.Fixtures.assertBitIdentical;
import static org.peft4j.lora.Fixtures.assertClose;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.model.CausalLmTask;
import org.peft4j.core.model.SequenceClassificationTask;
import org.peft4j.core.model.TokenBatch;
import org.peft4j.core.model.gpt2.Gpt2Model;
import org.peft4j.core.param.Param;
import org.peft4j.core.train.BatchSource;
import org.peft4j.core.train.TrainResult;
import org.peft4j.core.train.Trainer;
import org.peft4j.core.train.TrainerConfig;
import org.peft4j.core.tuner.PeftModel;
import org.peft4j.core.tuner.TaskType;

/** The existing Trainer trains a PeftModel: only adapter params move (TR-02), the loss falls, disabling gives the old outputs (TR-09). */
class LoraTrainingTest {
    @Test
    void onlyAdapterParamsChangeAndTheLossFalls() {
        for (boolean dora : new boolean[] {false, true}) {
            Gpt2Model gpt2 = Fixtures.gpt2(DataType.FLOAT, 1);
            INDArray before = Fixtures.logits(gpt2);
            try (PeftModel<Gpt2Model> peft = PeftModel.builder(gpt2)
                    .adapter("default", LoraConfig.builder().r(4).loraAlpha(8).allLinear().useDora(dora).loraDropout(0.1).build()).build()) {
                Map<String, INDArray> start = Fixtures.snapshot(gpt2);
                Set<String> trainable = new java.util.HashSet<>();
                peft.registry().trainable().forEach(np -> trainable.add(np.path()));
                TrainerConfig config = TrainerConfig.builder().adamW(3e-2, 0.0).maxSteps(12).seed(5).build();
                TrainResult result = new Trainer(config).fit(peft.trainableTask(new CausalLmTask(gpt2)), BatchSource.of(List.of(Fixtures.batch())), null);
                assertTrue(result.lastLoss() < result.losses().get(0) - 0.05, "loss " + result.losses());
                Map<String, INDArray> end = Fixtures.snapshot(gpt2);
                assertEquals(start.keySet(), end.keySet(), "the same params before and after");
                start.forEach((path, v) -> {
                    if (trainable.contains(path)) {
                        assertFalse(Fixtures.close(end.get(path), v, 1e-4, 0), path + " trained");
                    } else {
                        assertBitIdentical(v, end.get(path), path + " is frozen");
                    }
                });
                assertEquals(dora ? 8 * 3 : 8 * 2, trainable.size());
                INDArray trained = Fixtures.logits(gpt2);
                assertFalse(Fixtures.close(trained, before, 1e-6, 0));
                try (PeftModel.Scope off = peft.disableAdapters()) {
                    assertBitIdentical(before, Fixtures.logits(gpt2), "disabled: the outputs before training");
                }
                assertBitIdentical(trained, Fixtures.logits(gpt2), "enabled again: the trained outputs");
                peft.merge();
                assertClose(trained, Fixtures.logits(gpt2), 1e-5, "merged after training (MG-06)");
            }
        }
    }

    /** TR-07 and TR-02: LoRA plus a trained copy of the classifier head; the original head and the base stay as they were. */
    @Test
    void aClassifierHeadTrainsAsAModuleToSaveAndIsSaved(@TempDir Path dir) {
        ToyModels.Classifier model = new ToyModels.Classifier(11, 8, 3, DataType.FLOAT, 2);
        TokenBatch b1 = new TokenBatch(4, 3, new int[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0, 1}, null, new int[] {0, 1, 2, 1});
        TokenBatch b2 = new TokenBatch(4, 3, new int[] {3, 3, 3, 9, 9, 9, 1, 5, 7, 2, 4, 6}, null, new int[] {2, 0, 1, 0});
        INDArray expected;
        try (PeftModel<ToyModels.Classifier> peft = PeftModel.builder(model)
                .adapter("default", LoraConfig.builder().targetModules("dense").taskType(TaskType.SEQ_CLS).build()).build()) {
            Map<String, INDArray> start = Fixtures.snapshot(model);
            TrainResult result = new Trainer(TrainerConfig.builder().adamW(5e-2, 0.0).maxSteps(15).seed(1).build())
                    .fit(peft.trainableTask(new SequenceClassificationTask(model)), BatchSource.of(List.of(b1, b2)), null);
            assertTrue(result.lastLoss() < result.losses().get(0), "loss " + result.losses());
            Map<String, INDArray> end = Fixtures.snapshot(model);
            assertBitIdentical(start.get("classifier.original_module.weight"), end.get("classifier.original_module.weight"), "original head");
            assertBitIdentical(start.get("dense.base_layer.weight"), end.get("dense.base_layer.weight"), "base");
            assertBitIdentical(start.get("embed.weight"), end.get("embed.weight"), "embeddings");
            assertFalse(Fixtures.close(end.get("classifier.modules_to_save.default.weight"), start.get("classifier.modules_to_save.default.weight"), 1e-4, 0));
            assertFalse(Fixtures.close(end.get("dense.lora_A.default.weight"), start.get("dense.lora_A.default.weight"), 1e-4, 0));
            assertTrue(peft.adapterState("default").containsKey("base_model.model.classifier.weight"));
            assertTrue(peft.adapterState("default").containsKey("base_model.model.classifier.bias"));
            expected = logits(model, b1);
            peft.save(dir);
        }
        ToyModels.Classifier fresh = new ToyModels.Classifier(11, 8, 3, DataType.FLOAT, 2);
        try (PeftModel<ToyModels.Classifier> loaded = PeftModel.load(fresh, dir)) {
            assertBitIdentical(expected, logits(fresh, b1), "the trained head and adapter reload");
            Param head = loaded.modulesToSave().get("classifier").copyOf("default").params().get("weight");
            assertFalse(head.isTrainable(), "loaded frozen");
        }
    }

    private static INDArray logits(ToyModels.Classifier model, TokenBatch batch) {
        try (org.peft4j.core.nn.Tape tape = org.peft4j.core.nn.Tape.inference(model.kernels())) {
            return model.forward(batch, tape).dup();
        }
    }

    /** L-10 (first half): a trained PiSSA adapter, saved normally, reloads on the original base: PiSSA's init recomputes W_res. */
    @Test
    void aTrainedPissaAdapterReloadsOnTheOriginalBase(@TempDir Path dir) {
        Gpt2Model gpt2 = Fixtures.gpt2(DataType.DOUBLE, 3);
        INDArray expected;
        try (PeftModel<Gpt2Model> peft = PeftModel.builder(gpt2)
                .adapter("default", LoraConfig.builder().r(2).targetModules("c_attn").initLoraWeights(LoraInit.PISSA).build()).build()) {
            peft.tunerLayers().values().forEach(l -> ((LoraLinear) l).loraB("default").value().muli(2));
            expected = Fixtures.logits(gpt2);
            peft.save(dir);
        }
        Gpt2Model original = Fixtures.gpt2(DataType.DOUBLE, 3);
        try (PeftModel<Gpt2Model> loaded = PeftModel.load(original, dir)) {
            assertEquals(2, ((LoraConfig) loaded.config("default")).r());
            assertClose(expected, Fixtures.logits(original), 1e-6, "reloaded PiSSA adapter");
        }
    }
}
