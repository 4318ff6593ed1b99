package org.peft4j.core.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.peft4j.core.kernel.KernelChoice;
import org.peft4j.core.kernel.Kernels;
import org.peft4j.core.nn.Module;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.param.Param;
import org.peft4j.core.testing.GradientCheck;
import org.peft4j.core.train.BatchSource;
import org.peft4j.core.train.EvalResult;
import org.peft4j.core.train.Trainer;

class SequenceClassificationTaskTest {
    /** Logits = fixed scores per sequence (looked up by its first token id) + a trainable bias per label. */
    static final class FixedScores extends Module implements SequenceClassifier {
        final INDArray scores;
        final Param bias;

        FixedScores(INDArray scores, int labels) {
            this.scores = scores;
            this.bias = register(Param.trainable("bias", Nd4j.zeros(DataType.DOUBLE, labels)));
        }

        @Override
        public int numLabels() {
            return (int) bias.length();
        }

        @Override
        public INDArray forward(TokenBatch batch, Tape tape) {
            int[] rows = new int[batch.batch()];
            for (int b = 0; b < rows.length; b++) {
                rows[b] = batch.ids()[b * batch.seqLen()];
            }
            return Nd4j.pullRows(scores, 1, rows, 'c').addiRowVector(bias.value());
        }

        @Override
        public void backward(INDArray gradLogits, Tape tape) {
            bias.grad().addi(gradLogits.sum(0));
        }

        @Override
        public Module module() {
            return this;
        }

        @Override
        public Kernels kernels() {
            return KernelChoice.PORTABLE.resolve();
        }

        @Override
        public String modelType() {
            return "test";
        }

        @Override
        public ObjectNode hfConfig() {
            throw new UnsupportedOperationException("test model");
        }

        @Override
        public Map<String, INDArray> hfStateDict() {
            return Map.of();
        }
    }

    private static TokenBatch batch(int[] rows, int[] labels) {
        return new TokenBatch(rows.length, 1, rows, null, labels);
    }

    @Test
    void crossEntropyGradientMatchesFiniteDifferences() {
        SplittableRandom rng = new SplittableRandom(1);
        FixedScores model = new FixedScores(GradientCheck.randn(rng, 5, 3), 3);
        model.bias.value().assign(GradientCheck.randn(rng, 3));
        SequenceClassificationTask task = new SequenceClassificationTask(model);
        TokenBatch b = batch(new int[] {0, 1, 2, 3, 4}, new int[] {2, 0, TokenBatch.IGNORE_INDEX, 1, 1});
        try (Tape tape = Tape.recordingWithoutDropout(task.kernels())) {
            task.forward(b, tape);
            task.backward(tape, 1.0);
        }
        GradientCheck.checkParam("bias", model.bias, () -> {
            try (Tape tape = Tape.inference(task.kernels())) {
                return task.forward(b, tape).value();
            }
        }, 3, 1e-7, rng);
    }

    @Test
    void accuracyF1AndMccAgainstAHandCount() {
        // predictions (argmax) vs labels over 8 sequences, positive class 1:
        // TP = 3 (rows 0-2), FN = 1 (row 3), FP = 1 (row 4), TN = 3 (rows 5-7)
        double[][] scores = {{0, 1}, {0, 1}, {0, 1}, {1, 0}, {0, 1}, {1, 0}, {1, 0}, {1, 0}};
        int[] labels = {1, 1, 1, 1, 0, 0, 0, 0};
        FixedScores model = new FixedScores(Nd4j.createFromArray(scores), 2);
        SequenceClassificationTask task = new SequenceClassificationTask(model);
        BatchSource<TokenBatch> data = new BatchSource<>() {
            @Override
            public int batchesPerEpoch() {
                return 2;
            }

            @Override
            public TokenBatch batch(int epoch, int index) {
                int[] rows = {4 * index, 4 * index + 1, 4 * index + 2, 4 * index + 3};
                return SequenceClassificationTaskTest.batch(rows, java.util.Arrays.copyOfRange(labels, 4 * index, 4 * index + 4));
            }
        };
        EvalResult r = Trainer.evaluate(task, data);
        assertEquals(6.0 / 8, r.metrics().get("accuracy"), 1e-12);
        double precision = 3.0 / 4;
        double recall = 3.0 / 4;
        assertEquals(2 * precision * recall / (precision + recall), r.metrics().get("f1"), 1e-12);
        assertEquals((3.0 * 3 - 1.0 * 1) / Math.sqrt(4.0 * 4 * 4 * 4), r.metrics().get("mcc"), 1e-12);
        assertEquals(8, r.targets());
    }

    @Test
    void labelsMustMatchTheBatch() {
        FixedScores model = new FixedScores(Nd4j.zeros(DataType.DOUBLE, 2, 2), 2);
        SequenceClassificationTask task = new SequenceClassificationTask(model);
        try (Tape tape = Tape.inference(task.kernels())) {
            assertThrows(IllegalArgumentException.class, () -> task.forward(batch(new int[] {0, 1}, new int[] {1}), tape));
        }
    }
}
