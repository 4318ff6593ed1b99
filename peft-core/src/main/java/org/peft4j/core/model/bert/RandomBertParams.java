package org.peft4j.core.model.bert;

import java.util.SplittableRandom;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.peft4j.core.nn.Init;

/** Params drawn as HF's {@code BertPreTrainedModel._init_weights} does, from one seeded generator in build order. */
final class RandomBertParams implements BertParamSource {
    private final double std;
    private final int padTokenId;
    private final DataType type;
    private final SplittableRandom rng;

    RandomBertParams(BertConfig config, DataType type, SplittableRandom rng) {
        this.std = config.initializerRange();
        this.padTokenId = config.padTokenId();
        this.type = type;
        this.rng = rng;
    }

    @Override
    public INDArray get(String path, Kind kind, long... shape) {
        switch (kind) {
            case NORMAL:
                return Init.normal(type, std, rng, shape);
            case NORMAL_PAD_ROW_ZERO: {
                INDArray table = Init.normal(type, std, rng, shape);
                if (padTokenId < shape[0]) {
                    table.get(NDArrayIndex.point(padTokenId), NDArrayIndex.all()).assign(0);
                }
                return table;
            }
            case ZEROS:
                return Init.constant(type, 0.0, shape);
            case ONES:
                return Init.constant(type, 1.0, shape);
            default:
                throw new IllegalArgumentException("unknown initialisation " + kind + " for " + path);
        }
    }
}
