package org.peft4j.prompt;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Map;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.model.TokenBatch;
import org.peft4j.core.model.gpt2.Gpt2Config;
import org.peft4j.core.model.gpt2.Gpt2Model;
import org.peft4j.core.tuner.PeftModel;
import org.peft4j.prompt.prefix.PrefixTuningConfig;

/**
 * A P-Tuning v2 prefix on GPT-2 against GPT-2 written out here in plain loops from the HF weights: the prefix
 * read as HF's get_prompt reads it, its keys and values concatenated explicitly before each layer's own, the
 * real tokens at positions n…n+T−1, prefix keys always visible, causal and padding masks on the rest.
 */
class Gpt2PrefixReferenceTest {
    @Test
    void aPrefixIsConcatenatedInFrontOfEveryLayersKeysAndValues() throws Exception {
        Gpt2Model model = PromptFixtures.gpt2(9);
        Map<String, INDArray> w = model.hfStateDict();
        TokenBatch batch = PromptFixtures.lmBatch();
        try (PeftModel<Gpt2Model> peft = PeftModel.builder(model).adapter("default", PrefixTuningConfig.pTuningV2(3)).seed(4).build()) {
            INDArray logits = PromptFixtures.logits(model, batch);
            double[][] flat = matrix(peft.adapterState("default").get("prompt_embeddings").value());
            int t = batch.seqLen();
            int checked = 0;
            for (int b = 0; b < batch.batch(); b++) {
                int[] ids = java.util.Arrays.copyOfRange(batch.ids(), b * t, (b + 1) * t);
                int[] mask = java.util.Arrays.copyOfRange(batch.attentionMask(), b * t, (b + 1) * t);
                double[][] expected = reference(model.config(), w, flat, ids, mask);
                for (int s = 0; s < t; s++) {
                    if (mask[s] == 0) {
                        continue;                                   // a padded query's row is not meaningful
                    }
                    for (int v = 0; v < expected[s].length; v++) {
                        assertEquals(expected[s][v], logits.getDouble(b * t + s, v), 1e-9, "sequence " + b + ", position " + s + ", logit " + v);
                        checked++;
                    }
                }
            }
            assertEquals(9 * 13, checked);
        }
    }

    /** GPT-2's logits for one sequence after the prefix, computed from the HF weights with plain loops. */
    private static double[][] reference(Gpt2Config c, Map<String, INDArray> w, double[][] flat, int[] ids, int[] mask) {
        int n = flat.length;
        int t = ids.length;
        int d = c.nEmbd();
        int heads = c.nHead();
        int hd = d / heads;
        int layers = c.nLayer();
        double[][] wte = matrix(w.get("transformer.wte.weight"));
        double[][] wpe = matrix(w.get("transformer.wpe.weight"));
        double[][] x = new double[t][d];
        for (int s = 0; s < t; s++) {
            for (int j = 0; j < d; j++) {
                x[s][j] = wte[ids[s]][j] + wpe[n + s][j];                   // real tokens at positions n…n+T−1
            }
        }
        for (int l = 0; l < layers; l++) {
            String p = "transformer.h." + l + ".";
            double[][] h = layerNorm(x, w, p + "ln_1", c.layerNormEpsilon());
            double[][] qkv = affine(h, w, p + "attn.c_attn");               // [T, 3d]
            double[][] context = new double[t][d];
            for (int head = 0; head < heads; head++) {
                for (int q = 0; q < t; q++) {
                    double[] scores = new double[n + t];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int k = 0; k < n + t; k++) {
                        boolean visible = k < n || (k - n <= q && mask[k - n] == 1);
                        if (!visible) {
                            scores[k] = Double.NEGATIVE_INFINITY;
                            continue;
                        }
                        double dot = 0;
                        for (int j = 0; j < hd; j++) {
                            double key = k < n ? flat[k][((2 * l) * heads + head) * hd + j] : qkv[k - n][d + head * hd + j];
                            dot += qkv[q][head * hd + j] * key;
                        }
                        scores[k] = dot / Math.sqrt(hd);
                        max = Math.max(max, scores[k]);
                    }
                    double sum = 0;
                    for (int k = 0; k < n + t; k++) {
                        scores[k] = Math.exp(scores[k] - max);
                        sum += scores[k];
                    }
                    for (int k = 0; k < n + t; k++) {
                        for (int j = 0; j < hd; j++) {
                            double value = k < n ? flat[k][((2 * l + 1) * heads + head) * hd + j] : qkv[k - n][2 * d + head * hd + j];
                            context[q][head * hd + j] += scores[k] / sum * value;
                        }
                    }
                }
            }
            add(x, affine(context, w, p + "attn.c_proj"));
            double[][] inner = affine(layerNorm(x, w, p + "ln_2", c.layerNormEpsilon()), w, p + "mlp.c_fc");
            for (double[] row : inner) {
                for (int j = 0; j < row.length; j++) {
                    double v = row[j];
                    row[j] = 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v)));   // gelu_new
                }
            }
            add(x, affine(inner, w, p + "mlp.c_proj"));
        }
        double[][] out = layerNorm(x, w, "transformer.ln_f", c.layerNormEpsilon());
        double[][] logits = new double[t][wte.length];
        for (int s = 0; s < t; s++) {
            for (int v = 0; v < wte.length; v++) {
                for (int j = 0; j < d; j++) {
                    logits[s][v] += out[s][j] * wte[v][j];                    // tied head
                }
            }
        }
        return logits;
    }

    private static double[][] matrix(INDArray a) {
        return a.castTo(org.nd4j.linalg.api.buffer.DataType.DOUBLE).toDoubleMatrix();
    }

    /** x·W + b with HF's Conv1D weight {@code [in, out]}. */
    private static double[][] affine(double[][] x, Map<String, INDArray> w, String name) {
        double[][] weight = matrix(w.get(name + ".weight"));
        double[] bias = w.get(name + ".bias").castTo(org.nd4j.linalg.api.buffer.DataType.DOUBLE).toDoubleVector();
        double[][] out = new double[x.length][bias.length];
        for (int s = 0; s < x.length; s++) {
            for (int o = 0; o < bias.length; o++) {
                double v = bias[o];
                for (int i = 0; i < x[s].length; i++) {
                    v += x[s][i] * weight[i][o];
                }
                out[s][o] = v;
            }
        }
        return out;
    }

    private static double[][] layerNorm(double[][] x, Map<String, INDArray> w, String name, double eps) {
        double[] gamma = w.get(name + ".weight").castTo(org.nd4j.linalg.api.buffer.DataType.DOUBLE).toDoubleVector();
        double[] beta = w.get(name + ".bias").castTo(org.nd4j.linalg.api.buffer.DataType.DOUBLE).toDoubleVector();
        double[][] out = new double[x.length][gamma.length];
        for (int s = 0; s < x.length; s++) {
            double mean = 0;
            for (double v : x[s]) {
                mean += v / x[s].length;
            }
            double var = 0;
            for (double v : x[s]) {
                var += (v - mean) * (v - mean) / x[s].length;
            }
            for (int j = 0; j < gamma.length; j++) {
                out[s][j] = (x[s][j] - mean) / Math.sqrt(var + eps) * gamma[j] + beta[j];
            }
        }
        return out;
    }

    private static void add(double[][] x, double[][] y) {
        for (int s = 0; s < x.length; s++) {
            for (int j = 0; j < x[s].length; j++) {
                x[s][j] += y[s][j];
            }
        }
    }
}
