package org.peft4j.core.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.kernel.KernelChoice;
import org.peft4j.core.model.CausalLmTask;
import org.peft4j.core.model.TokenBatch;
import org.peft4j.core.model.gpt2.Gpt2Model;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.param.Param;
import org.peft4j.core.param.ParamRegistry;
import org.peft4j.core.testing.TinyModels;

/** The trainer runs a task's {@link TrainingHook}: its loss term with its gradient, and the calls around each update, in order. */
class TrainingHookTest {

    /** Adds c·‖w‖² of one param as a loss term and records what it sees. */
    private static final class Recorder implements TrainingHook {
        final Param w;
        final double c;
        final List<String> calls = new ArrayList<>();
        final List<Double> terms = new ArrayList<>();
        INDArray gradBefore;
        INDArray valueBefore;
        int total;

        Recorder(Param w, double c) {
            this.w = w;
            this.c = c;
        }

        @Override
        public void onStart(int totalSteps) {
            total = totalSteps;
            calls.add("start");
        }

        @Override
        public double addLoss() {
            calls.add("loss");
            w.grad().addi(w.value().mul(2 * c));                      // d(c·‖w‖²)/dw
            double term = c * Math.pow(w.value().norm2Number().doubleValue(), 2);
            terms.add(term);
            return term;
        }

        @Override
        public void beforeUpdate(int step) {
            calls.add("before " + step);
            gradBefore = w.grad().dup();
            valueBefore = w.value().dup();
        }

        @Override
        public void afterUpdate(int step) {
            calls.add("after " + step);
            // SGD without clipping or schedule: w_new = w_old − lr·g, and g includes the hook's own term
            assertTrue(valueBefore.sub(gradBefore.mul(0.1)).equalsWithEps(w.value(), 1e-6), "the update used the gradient the hook saw");
        }
    }

    @Test
    void hookLossAndCallsAroundEveryUpdate() {
        Gpt2Model model = Gpt2Model.random(TinyModels.tinyGpt2(), 3, DataType.FLOAT, KernelChoice.AUTO);
        ParamRegistry registry = new ParamRegistry(model);
        registry.unfreezeSuffix("ln_f.bias");
        Param w = registry.get("transformer.ln_f.bias");
        w.value().assign(0.5);
        Recorder recorder = new Recorder(w, 0.3);
        CausalLmTask plain = new CausalLmTask(model);
        TrainableTask<TokenBatch> task = plain.withTrainingHook(recorder);
        BatchSource<TokenBatch> data = TrainerTest.patternData(13, 2, 5, 2, 4);
        TrainResult result = new Trainer(TrainerConfig.builder().sgd(0.1).maxSteps(2).noGradientClipping()
                .decay(LearningRateSchedule.Decay.CONSTANT).build()).fit(task, data, null);
        assertEquals(List.of("start", "loss", "before 0", "after 0", "loss", "before 1", "after 1"), recorder.calls);
        assertEquals(2, recorder.total);
        double taskLoss;
        try (Tape tape = Tape.inference(plain.kernels())) {
            w.value().assign(0.5);                                     // the first step's params again (only w moved)
            taskLoss = plain.forward(data.batch(0, 0), tape).value();
        }
        assertEquals(taskLoss + recorder.terms.get(0), result.losses().get(0), 1e-5, "the step's loss includes the hook's term");
        assertEquals(0.3 * 0.25 * 8, recorder.terms.get(0), 1e-6, "c·‖w‖² with w = 0.5 in 8 dimensions");
    }
}
