package org.peft4j.core.model;

import java.util.LinkedHashMap;
import java.util.Map;
import org.nd4j.evaluation.EvaluationAveraging;
import org.nd4j.evaluation.classification.Evaluation;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.train.Loss;
import org.peft4j.core.train.MetricsAccumulator;

/**
 * Sequence classification with a {@link SequenceClassifier}: cross-entropy of the label logits
 * {@code [batch, labels]} against one label index per sequence ({@link TokenBatch#labels()} of length
 * batch; -100 ignores a sequence), as HF's {@code *ForSequenceClassification} computes it for
 * single-label problems. Evaluation uses ND4J's {@link Evaluation}: accuracy, F1 and Matthews
 * correlation (for two labels: of label 1, which equals the symmetric binary MCC; for more labels:
 * macro averages over one-vs-rest, which is not the multi-class MCC).
 */
public final class SequenceClassificationTask extends CrossEntropyTask<SequenceClassifier> {
    public SequenceClassificationTask(SequenceClassifier model) {
        super(model);
    }

    @Override
    public Loss forward(TokenBatch batch, Tape tape) {
        if (batch.labels() == null || batch.labels().length != batch.batch()) {
            throw new IllegalArgumentException("sequence classification needs one label per sequence (" + batch.batch() + "), got "
                    + (batch.labels() == null ? "none" : batch.labels().length));
        }
        INDArray logits = model().forward(batch, tape);                            // [B, labels]
        return score(batch, logits, batch.labels(), tape, logits);
    }

    @Override
    protected void backwardLogits(INDArray gradLogits, Tape tape) {
        model().backward(gradLogits, tape);
    }

    /** Accuracy, F1 and MCC over the evaluation pass, from the argmax of the logits. */
    @Override
    public MetricsAccumulator<TokenBatch> newMetrics() {
        int numLabels = model().numLabels();
        Evaluation evaluation = new Evaluation(numLabels);
        return new MetricsAccumulator<>() {
            private long seen;

            @Override
            public void add(TokenBatch batch, Loss loss) {
                int rows = 0;
                for (int label : batch.labels()) {
                    rows += label == TokenBatch.IGNORE_INDEX ? 0 : 1;
                }
                if (rows == 0) {
                    return;
                }
                double[][] oneHot = new double[rows][numLabels];
                int[] keep = new int[rows];
                int r = 0;
                for (int i = 0; i < batch.labels().length; i++) {
                    if (batch.labels()[i] != TokenBatch.IGNORE_INDEX) {
                        oneHot[r][batch.labels()[i]] = 1.0;
                        keep[r++] = i;
                    }
                }
                INDArray predictions = Nd4j.pullRows(loss.outputs(), 1, keep, 'c');
                evaluation.eval(Nd4j.createFromArray(oneHot).castTo(predictions.dataType()), predictions);
                seen += rows;
            }

            @Override
            public Map<String, Double> result(double meanLoss) {
                Map<String, Double> out = new LinkedHashMap<>();
                if (seen == 0) {
                    return out;
                }
                out.put("accuracy", evaluation.accuracy());
                out.put("f1", evaluation.f1());
                out.put("mcc", numLabels == 2 ? evaluation.matthewsCorrelation(1) : evaluation.matthewsCorrelation(EvaluationAveraging.Macro));
                return out;
            }
        };
    }
}
