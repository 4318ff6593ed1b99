package org.peft4j.core.kernel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.nd4j.linalg.indexing.NDArrayIndex.all;
import static org.nd4j.linalg.indexing.NDArrayIndex.point;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** A query that sees no key (a left-padding position) gets uniform weights, not NaN, in every kernel and type. */
class FullyMaskedRowsTest {
    @ParameterizedTest
    @EnumSource(value = KernelChoice.class, names = {"PORTABLE", "CPU"})
    void uniformWeightsInFloatAndDouble(KernelChoice choice) {
        for (DataType type : new DataType[] {DataType.FLOAT, DataType.DOUBLE}) {
            // one sequence of 3 whose first position is padding: causal query 0 sees nothing
            INDArray scores = Nd4j.create(new double[] {0.3, 0.1, -0.2, 0.5, 0.4, 0.2, 0.1, 0.7, 0.9}, new long[] {1, 3, 3}, type);
            INDArray p = choice.resolve().maskedSoftmax(scores, new AttentionMask(1, 1, 3, 3, true, new int[] {0, 1, 1}));
            assertArrayEquals(new double[] {1.0 / 3, 1.0 / 3, 1.0 / 3}, p.get(point(0), point(0), all()).toDoubleVector(), 1e-6, choice + " " + type);
            assertArrayEquals(new double[] {0, 1, 0}, p.get(point(0), point(1), all()).toDoubleVector(), 1e-6, choice + " " + type);
        }
    }
}
