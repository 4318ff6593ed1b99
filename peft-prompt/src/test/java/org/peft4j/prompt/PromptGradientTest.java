package org.peft4j.prompt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Supplier;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.peft4j.core.model.PretrainedModel;
import org.peft4j.core.model.TokenBatch;
import org.peft4j.core.param.ParamRegistry;
import org.peft4j.core.testing.GradientCheck;
import org.peft4j.core.train.TrainableTask;
import org.peft4j.core.tuner.PeftModel;
import org.peft4j.core.tuner.TaskType;
import org.peft4j.prompt.prefix.PrefixTuningConfig;
import org.peft4j.prompt.prompttuning.PromptTuningConfig;
import org.peft4j.prompt.ptuning.PTuningConfig;

/**
 * Finite-difference checks (double precision) of the gradients of every trainable param of each method, through
 * frozen tiny GPT-2, LLaMA-style (grouped-query attention, rotary) and BERT classifier models.
 */
class PromptGradientTest {
    static Stream<Arguments> cases() {
        PromptLearningConfig prompt = PromptTuningConfig.of(3);
        PromptLearningConfig mlp = PTuningConfig.of(3, PTuningConfig.EncoderType.MLP).withEncoderHiddenSize(6);
        PromptLearningConfig lstm = PTuningConfig.of(3, PTuningConfig.EncoderType.LSTM).withEncoderHiddenSize(5);
        PromptLearningConfig prefix = PrefixTuningConfig.prefixTuning(3, 6);
        PromptLearningConfig v2 = PrefixTuningConfig.pTuningV2(3);
        return Stream.of(
                Arguments.of("gpt2", prompt), Arguments.of("gpt2", mlp), Arguments.of("gpt2", lstm), Arguments.of("gpt2", prefix),
                Arguments.of("gpt2", v2),
                Arguments.of("llama", prompt), Arguments.of("llama", lstm), Arguments.of("llama", prefix), Arguments.of("llama", v2),
                Arguments.of("bert", prompt), Arguments.of("bert", mlp), Arguments.of("bert", prefix), Arguments.of("bert", v2));
    }

    static PretrainedModel model(String kind, long seed) {
        return switch (kind) {
            case "gpt2" -> PromptFixtures.gpt2(seed);
            case "llama" -> PromptFixtures.llama(seed);
            default -> PromptFixtures.bert(seed);
        };
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("cases")
    void everyTrainableParamMatchesFiniteDifferences(String kind, PromptLearningConfig config) {
        PretrainedModel model = model(kind, 5);
        PromptLearningConfig c = kind.equals("bert") ? config.withBase(config.base().withTaskType(TaskType.SEQ_CLS)) : config;
        try (PeftModel<PretrainedModel> peft = PeftModel.builder(model).adapter("default", c).seed(11).build()) {
            TrainableTask<TokenBatch> task = peft.trainableTask(PromptFixtures.task(model));
            TokenBatch batch = PromptFixtures.batch(model);
            List<ParamRegistry.NamedParam> trainable = peft.registry().trainable();
            Supplier<Double> loss = PromptFixtures.backwardOnce(task, batch, model.kernels(), trainable);
            SplittableRandom rng = new SplittableRandom(3);
            for (ParamRegistry.NamedParam np : trainable) {
                if (np.path().contains("classifier")) {
                    continue;                                         // the head's own gradients are core's tests
                }
                GradientCheck.checkParam(kind + " " + np.path(), np.param(), loss, 6, 1e-6, rng);
            }
        }
    }
}
