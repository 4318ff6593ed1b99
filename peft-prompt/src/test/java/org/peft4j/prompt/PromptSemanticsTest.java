package org.peft4j.prompt;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.peft4j.core.model.CausalLm;
import org.peft4j.core.model.PretrainedModel;
import org.peft4j.core.model.TokenBatch;
import org.peft4j.core.model.bert.BertForSequenceClassification;
import org.peft4j.core.nn.KeyValueCache;
import org.peft4j.core.nn.SequenceContext;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.tuner.PeftModel;
import org.peft4j.core.tuner.TaskType;
import org.peft4j.prompt.prefix.PrefixHook;
import org.peft4j.prompt.prefix.PrefixTuningConfig;
import org.peft4j.prompt.prompttuning.PromptTuningConfig;

/**
 * HF PEFT's semantics checked against independent computations: virtual tokens behave as real tokens at
 * positions 0…n−1 with visible mask entries; a prefix behaves as keys/values cached before the sequence (HF passes
 * it as past_key_values), read from the flat table as HF's get_prompt reads it; generation with a cache equals
 * recomputing the whole sequence.
 */
class PromptSemanticsTest {
    private static final int[] INIT_IDS = {5, 6, 11};

    /** The batch with the init ids in front of every sequence (mask 1, label ignored, type 0). */
    private static TokenBatch withPrefixTokens(TokenBatch b, boolean labelsPerToken) {
        int n = INIT_IDS.length;
        int t = b.seqLen();
        int s = n + t;
        int[] ids = new int[b.batch() * s];
        int[] mask = new int[b.batch() * s];
        int[] types = new int[b.batch() * s];
        for (int i = 0; i < b.batch(); i++) {
            for (int j = 0; j < n; j++) {
                ids[i * s + j] = INIT_IDS[j];
                mask[i * s + j] = 1;
            }
            for (int j = 0; j < t; j++) {
                ids[i * s + n + j] = b.ids()[i * t + j];
                mask[i * s + n + j] = b.attentionMask()[i * t + j];
                types[i * s + n + j] = b.typeIds() == null ? 0 : b.typeIds()[i * t + j];
            }
        }
        return new TokenBatch(b.batch(), s, ids, mask, labelsPerToken ? null : b.labels(), b.typeIds() == null ? null : types);
    }

    /** Rows of the batch's real tokens: the last T of each sequence of n + T rows. */
    private static INDArray realRows(INDArray logits, int batch, int n, int t) {
        INDArray out = Nd4j.create(logits.dataType(), (long) batch * t, logits.columns());
        for (int b = 0; b < batch; b++) {
            out.get(NDArrayIndex.interval(b * t, (b + 1) * t), NDArrayIndex.all())
                    .assign(logits.get(NDArrayIndex.interval(b * (n + t) + n, (b + 1) * (n + t)), NDArrayIndex.all()));
        }
        return out;
    }

    @Test
    void virtualTokensActAsRealTokensAtTheFirstPositions() {
        List<Integer> ids = List.of(INIT_IDS[0], INIT_IDS[1], INIT_IDS[2]);
        for (PretrainedModel model : List.of(PromptFixtures.gpt2(3), PromptFixtures.llama(3), PromptFixtures.bert(3))) {
            boolean lm = model instanceof CausalLm;
            TokenBatch batch = PromptFixtures.batch(model);
            INDArray expected = PromptFixtures.logits(model, withPrefixTokens(batch, lm));   // the base model on init ids ++ tokens
            PromptTuningConfig config = PromptTuningConfig.of(3).withTextInit("x y z", ids, null);
            if (!lm) {
                config = config.withBase(config.base().withTaskType(TaskType.SEQ_CLS));
            }
            try (PeftModel<PretrainedModel> peft = PeftModel.builder(model).adapter("default", config).build()) {
                INDArray actual = PromptFixtures.logits(model, batch);
                if (lm) {
                    assertEquals(2 * (3 + 5), actual.rows(), "logits of the virtual positions too");
                    PromptFixtures.assertClose(realRows(expected, 2, 3, 5), realRows(actual, 2, 3, 5), 1e-12, model.modelType());
                } else {
                    PromptFixtures.assertClose(expected, actual, 1e-12, "BERT pools the first virtual token, as HF does");
                }
            }
        }
    }

    /** HF's get_prompt by hand: view [n, 2L, H, hd]; layer i keys = slice 2i, values = 2i+1, as [batch·H, n, hd]. */
    private static INDArray hfSlice(INDArray flat, int layers, int heads, int slice, int batch) {
        int n = flat.rows();
        int hd = (int) flat.columns() / (2 * layers * heads);
        INDArray out = Nd4j.create(flat.dataType(), (long) batch * heads, n, hd);
        for (int b = 0; b < batch; b++) {
            for (int h = 0; h < heads; h++) {
                for (int p = 0; p < n; p++) {
                    for (int d = 0; d < hd; d++) {
                        long column = ((long) slice * heads + h) * hd + d;
                        out.putScalar(new long[] {(long) b * heads + h, p, d}, flat.getDouble(p, column));
                    }
                }
            }
        }
        return out;
    }

    @Test
    void aPrefixEqualsKeysAndValuesCachedBeforeTheSequence() {
        for (PretrainedModel model : List.of(PromptFixtures.gpt2(4), PromptFixtures.llama(4), PromptFixtures.bert(4))) {
            boolean lm = model instanceof CausalLm;
            for (PrefixTuningConfig config : List.of(PrefixTuningConfig.pTuningV2(3), PrefixTuningConfig.prefixTuning(3, 5))) {
                try (PeftModel<PretrainedModel> peft = PeftModel.builder(model).adapter("default", config).build()) {
                    TokenBatch batch = PromptFixtures.batch(model);
                    INDArray actual = PromptFixtures.logits(model, batch);
                    PrefixHook hook = (PrefixHook) org.peft4j.core.nn.ModuleTree.modules(model.module()).values().stream()
                            .filter(m -> m instanceof PrefixHook).findFirst().orElseThrow();
                    INDArray flat = hook.stateToSave().get("prompt_embeddings");
                    int layers = peft.config("default").toHfJson().get("num_layers").intValue();
                    int heads = peft.config("default").toHfJson().get("num_attention_heads").intValue();
                    assertEquals(2, heads, "LLaMA: its 2 kv heads, not the 4 query heads");
                    try (PeftModel.Scope off = peft.disableAdapters()) {
                        INDArray expected;
                        if (lm) {
                            try (KeyValueCache cache = new KeyValueCache(); Tape tape = Tape.inference(model.kernels())) {
                                SequenceContext ctx = new SequenceContext(batch.batch(), 3, null);
                                for (int i = 0; i < layers; i++) {
                                    cache.append(i, hfSlice(flat, layers, heads, 2 * i, batch.batch()), hfSlice(flat, layers, heads, 2 * i + 1, batch.batch()));
                                }
                                cache.commit(ctx);
                                expected = ((CausalLm) model).forward(batch, cache, tape).dup();
                            }
                        } else {
                            expected = bertWithPast((BertForSequenceClassification) model, batch, flat, layers, heads);
                        }
                        PromptFixtures.assertClose(expected, actual, 1e-12, model.modelType() + " " + config.prefixProjection());
                    }
                }
            }
        }
    }

    /** BERT has no cache: its attention is given the prefix as past keys/values by a test hook. */
    private static INDArray bertWithPast(BertForSequenceClassification model, TokenBatch batch, INDArray flat, int layers, int heads) {
        var past = new org.peft4j.core.nn.InputHook() {
            @Override
            public INDArray forward(INDArray x, Tape tape) {
                INDArray[] k = new INDArray[layers];
                INDArray[] v = new INDArray[layers];
                for (int i = 0; i < layers; i++) {
                    k[i] = hfSlice(flat, layers, heads, 2 * i, batch.batch());
                    v[i] = hfSlice(flat, layers, heads, 2 * i + 1, batch.batch());
                }
                tape.context().setPast(new org.peft4j.core.nn.PastKeyValues(flat.rows(), k, v, false));
                return x;
            }

            @Override
            public INDArray backward(INDArray g, Tape tape) {
                return g;
            }
        };
        model.bert().addInputHook("explicit_past", past);
        try {
            return PromptFixtures.logits(model, batch);
        } finally {
            model.bert().removeInputHook("explicit_past");
        }
    }

    /** The logits of the last position of {@code tokens} run after the cached ones. */
    private static double[] feed(CausalLm model, KeyValueCache cache, int... tokens) {
        try (Tape tape = Tape.inference(model.kernels())) {
            INDArray logits = model.forward(new TokenBatch(1, tokens.length, tokens, null, null), cache, tape);
            return logits.getRow(logits.rows() - 1).toDoubleVector();
        }
    }

    @Test
    void generationWithACacheEqualsRecomputingTheWholeSequence() {
        for (PretrainedModel base : List.of(PromptFixtures.gpt2(6), PromptFixtures.llama(6))) {
            CausalLm model = (CausalLm) base;
            for (PromptLearningConfig config : List.of(PrefixTuningConfig.prefixTuning(3, 5), PromptTuningConfig.of(3))) {
                try (PeftModel<PretrainedModel> peft = PeftModel.builder(base).adapter("default", config).build();
                        KeyValueCache cache = new KeyValueCache()) {
                    int[] tokens = {2, 7, 1};
                    double[] cached = feed(model, cache, tokens);
                    for (int step = 0; step < 5; step++) {
                        INDArray full = PromptFixtures.logits(model, new TokenBatch(1, tokens.length, tokens, null, null));
                        double[] expected = full.getRow(full.rows() - 1).toDoubleVector();
                        PromptFixtures.assertClose(Nd4j.createFromArray(expected), Nd4j.createFromArray(cached), 1e-10,
                                base.modelType() + " " + peft.config("default").peftType() + " step " + step);
                        int next = Nd4j.createFromArray(expected).argMax().getInt(0);
                        tokens = java.util.Arrays.copyOf(tokens, tokens.length + 1);
                        tokens[tokens.length - 1] = next;
                        cached = feed(model, cache, next);
                    }
                    int virtual = config instanceof PromptTuningConfig ? 3 : 0;
                    assertEquals(virtual + tokens.length, cache.length(), "virtual tokens are cached once, a prefix never");
                }
            }
        }
    }
}
