package org.peft4j.core.model.bert;

import org.peft4j.core.model.bert.BertParamSource.Kind;
import org.peft4j.core.nn.Embedding;
import org.peft4j.core.nn.LayerNorm;
import org.peft4j.core.nn.Linear;
import org.peft4j.core.nn.Linear.WeightLayout;
import org.peft4j.core.param.Param;

/** Builds the leaf modules of a BERT model from a {@link BertParamSource}, every param frozen. */
final class BertBuild {
    private BertBuild() {
    }

    /** {@code torch.nn.Linear(in, out)} at {@code path}: weight {@code [out, in]}, bias {@code [out]}. */
    static Linear linear(BertParamSource source, String path, int in, int out) {
        Param weight = Param.frozen("weight", source.get(path + ".weight", Kind.NORMAL, out, in));
        Param bias = Param.frozen("bias", source.get(path + ".bias", Kind.ZEROS, out));
        return new Linear(weight, bias, WeightLayout.OUT_IN);
    }

    /** {@code torch.nn.LayerNorm(dim, eps)} at {@code path}. */
    static LayerNorm layerNorm(BertParamSource source, String path, int dim, double eps) {
        return new LayerNorm(Param.frozen("weight", source.get(path + ".weight", Kind.ONES, dim)),
                Param.frozen("bias", source.get(path + ".bias", Kind.ZEROS, dim)), eps);
    }

    /** {@code torch.nn.Embedding(rows, dim)} at {@code path}. */
    static Embedding embedding(BertParamSource source, String path, int rows, int dim, Kind kind) {
        return new Embedding(Param.frozen("weight", source.get(path + ".weight", kind, rows, dim)));
    }
}
