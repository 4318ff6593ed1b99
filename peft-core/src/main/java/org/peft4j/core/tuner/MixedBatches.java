package org.peft4j.core.tuner;

import java.util.List;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.peft4j.core.nn.Tape;

/** Row bookkeeping of mixed-adapter batches: sequence b owns rows {@code b·rows/batch … (b+1)·rows/batch − 1}. */
public final class MixedBatches {
    private MixedBatches() {
    }

    /** Fails unless a pass of {@code rows} rows on {@code tape} can use one adapter name per sequence. */
    public static void check(List<String> perSequence, Tape tape, long rows) {
        if (tape.isRecording() || tape.isTraining()) {
            throw new IllegalStateException("one adapter per sequence works for inference only: run the pass with Tape.inference");
        }
        int batch = tape.context().batch();
        if (perSequence.size() != batch) {
            throw new IllegalArgumentException("adapter names per sequence must match the batch size: got " + perSequence.size()
                    + " names for " + batch + " sequences");
        }
        if (rows % batch != 0) {
            throw new IllegalStateException(rows + " rows cannot be split into " + batch + " sequences");
        }
    }

    /** The rows of sequence {@code b} of {@code x} as a view. */
    public static INDArray rowsOf(INDArray x, int b, int batch) {
        long per = x.rows() / batch;
        return x.get(NDArrayIndex.interval(b * per, (b + 1) * per), NDArrayIndex.all());
    }

    /** Copies the rows of every sequence named {@code name} from {@code source} into {@code target}. */
    public static void copyRows(INDArray source, INDArray target, List<String> perSequence, String name) {
        int batch = perSequence.size();
        for (int b = 0; b < batch; b++) {
            if (perSequence.get(b).equals(name)) {
                rowsOf(target, b, batch).assign(rowsOf(source, b, batch));
            }
        }
    }
}
