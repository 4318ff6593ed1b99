package org.peft4j.prompt.ptuning;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.peft4j.core.nn.Init;
import org.peft4j.core.nn.Layer;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.param.Param;

/**
 * A bidirectional multi-layer LSTM over one sequence {@code x [T, input]} → {@code [T, 2·hidden]}, as torch's
 * {@code nn.LSTM(bidirectional=True, batch_first=True)} computes it for a batch of one: gates i, f, g, o in
 * that order from {@code x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh}; c' = f⊙c + i⊙g, h' = o⊙tanh(c'); the reverse
 * direction runs from the last position to the first; each layer's output is [forward h | reverse h].
 * Params {@code weight_ih_l{k}[_reverse]} {@code [4H, in]}, {@code weight_hh_l{k}[_reverse]} {@code [4H, H]},
 * {@code bias_ih_l{k}[_reverse]}, {@code bias_hh_l{k}[_reverse]} {@code [4H]}, initialised from
 * U(−1/√H, 1/√H) as torch does. The math runs in double; no dropout between layers.
 */
public final class Lstm extends Layer {
    private final int inputSize;
    private final int hidden;
    private final int numLayers;
    private final Param[][] wih;
    private final Param[][] whh;
    private final Param[][] bih;
    private final Param[][] bhh;

    /** What one direction of one layer computed, per step t (positions in sequence order). */
    private record Run(double[][] x, double[][] i, double[][] f, double[][] g, double[][] o, double[][] c, double[][] h) {
    }

    public Lstm(String owner, int inputSize, int hidden, int numLayers, DataType type, SplittableRandom rng) {
        if (inputSize <= 0 || hidden <= 0 || numLayers <= 0) {
            throw new IllegalArgumentException("LSTM needs input size, hidden size and layers > 0, got " + inputSize + ", " + hidden + ", " + numLayers);
        }
        this.inputSize = inputSize;
        this.hidden = hidden;
        this.numLayers = numLayers;
        wih = new Param[numLayers][2];
        whh = new Param[numLayers][2];
        bih = new Param[numLayers][2];
        bhh = new Param[numLayers][2];
        double bound = 1.0 / Math.sqrt(hidden);
        for (int l = 0; l < numLayers; l++) {
            int in = l == 0 ? inputSize : 2 * hidden;
            for (int d = 0; d < 2; d++) {
                String suffix = "_l" + l + (d == 1 ? "_reverse" : "");
                wih[l][d] = register(Param.owned("weight_ih" + suffix, owner, Init.uniform(type, bound, rng, 4L * hidden, in), true));
                whh[l][d] = register(Param.owned("weight_hh" + suffix, owner, Init.uniform(type, bound, rng, 4L * hidden, hidden), true));
                bih[l][d] = register(Param.owned("bias_ih" + suffix, owner, Init.uniform(type, bound, rng, 4L * hidden), true));
                bhh[l][d] = register(Param.owned("bias_hh" + suffix, owner, Init.uniform(type, bound, rng, 4L * hidden), true));
            }
        }
    }

    @Override
    public INDArray forward(INDArray x, Tape tape) {
        if (x.rank() != 2 || x.columns() != inputSize) {
            throw new IllegalArgumentException("LSTM expects x [T, " + inputSize + "], got " + java.util.Arrays.toString(x.shape()));
        }
        double[][] input = rows(x);
        List<Run[]> runs = new ArrayList<>();
        for (int l = 0; l < numLayers; l++) {
            Run[] both = {run(l, 0, input), run(l, 1, input)};
            runs.add(both);
            input = concat(both[0].h(), both[1].h());
        }
        tape.push(this, runs);
        return Nd4j.createFromArray(input).castTo(x.dataType());
    }

    private Run run(int l, int d, double[][] x) {
        int steps = x.length;
        double[] w = flat(wih[l][d].value());                      // [4H, in] row-major
        double[] u = flat(whh[l][d].value());                      // [4H, H]
        double[] b = flat(bih[l][d].value());
        double[] b2 = flat(bhh[l][d].value());
        int hs = hidden;
        int in = x[0].length;
        double[][] gi = new double[steps][hs];
        double[][] gf = new double[steps][hs];
        double[][] gg = new double[steps][hs];
        double[][] go = new double[steps][hs];
        double[][] c = new double[steps][hs];
        double[][] h = new double[steps][hs];
        double[] hPrev = new double[hs];
        double[] cPrev = new double[hs];
        for (int s = 0; s < steps; s++) {
            int t = d == 0 ? s : steps - 1 - s;
            for (int j = 0; j < 4 * hs; j++) {
                double a = b[j] + b2[j] + dot(w, j * in, x[t]) + dot(u, j * hs, hPrev);
                int k = j % hs;
                switch (j / hs) {
                    case 0 -> gi[t][k] = sigmoid(a);
                    case 1 -> gf[t][k] = sigmoid(a);
                    case 2 -> gg[t][k] = Math.tanh(a);
                    default -> go[t][k] = sigmoid(a);
                }
            }
            for (int k = 0; k < hs; k++) {
                c[t][k] = gf[t][k] * cPrev[k] + gi[t][k] * gg[t][k];
                h[t][k] = go[t][k] * Math.tanh(c[t][k]);
            }
            hPrev = h[t];
            cPrev = c[t];
        }
        return new Run(x, gi, gf, gg, go, c, h);
    }

    @Override
    @SuppressWarnings("unchecked")
    public INDArray backward(INDArray gradOutput, Tape tape) {
        List<Run[]> runs = tape.pop(this, List.class);
        double[][] dOut = rows(gradOutput);
        for (int l = numLayers - 1; l >= 0; l--) {
            int in = l == 0 ? inputSize : 2 * hidden;
            double[][] dIn = new double[dOut.length][in];
            for (int d = 0; d < 2; d++) {
                backwardRun(l, d, runs.get(l)[d], dOut, d * hidden, dIn);
            }
            dOut = dIn;
        }
        return Nd4j.createFromArray(dOut).castTo(gradOutput.dataType());
    }

    /** Backpropagation through time of one direction; adds dL/dx into dIn and the param gradients. */
    private void backwardRun(int l, int d, Run r, double[][] dOut, int column, double[][] dIn) {
        int steps = r.x().length;
        int hs = hidden;
        int in = r.x()[0].length;
        double[] w = flat(wih[l][d].value());
        double[] u = flat(whh[l][d].value());
        double[] dW = new double[4 * hs * in];
        double[] dU = new double[4 * hs * hs];
        double[] dB = new double[4 * hs];
        double[] dhNext = new double[hs];
        double[] dcNext = new double[hs];
        double[] da = new double[4 * hs];
        for (int s = steps - 1; s >= 0; s--) {
            int t = d == 0 ? s : steps - 1 - s;
            int prev = d == 0 ? t - 1 : t + 1;
            boolean first = s == 0;
            for (int k = 0; k < hs; k++) {
                double dh = dOut[t][column + k] + dhNext[k];
                double tc = Math.tanh(r.c()[t][k]);
                double dc = dh * r.o()[t][k] * (1 - tc * tc) + dcNext[k];
                double cPrev = first ? 0 : r.c()[prev][k];
                da[k] = dc * r.g()[t][k] * r.i()[t][k] * (1 - r.i()[t][k]);
                da[hs + k] = dc * cPrev * r.f()[t][k] * (1 - r.f()[t][k]);
                da[2 * hs + k] = dc * r.i()[t][k] * (1 - r.g()[t][k] * r.g()[t][k]);
                da[3 * hs + k] = dh * tc * r.o()[t][k] * (1 - r.o()[t][k]);
                dcNext[k] = dc * r.f()[t][k];
            }
            java.util.Arrays.fill(dhNext, 0);
            for (int j = 0; j < 4 * hs; j++) {
                double a = da[j];
                if (a == 0) {
                    continue;
                }
                dB[j] += a;
                for (int m = 0; m < in; m++) {
                    dW[j * in + m] += a * r.x()[t][m];
                    dIn[t][m] += a * w[j * in + m];
                }
                if (!first) {
                    for (int m = 0; m < hs; m++) {
                        dU[j * hs + m] += a * r.h()[prev][m];
                        dhNext[m] += a * u[j * hs + m];
                    }
                }
            }
        }
        addGrad(wih[l][d], Nd4j.createFromArray(dW));
        addGrad(whh[l][d], Nd4j.createFromArray(dU));
        addGrad(bih[l][d], Nd4j.createFromArray(dB));
        addGrad(bhh[l][d], Nd4j.createFromArray(dB));
    }

    private static void addGrad(Param p, INDArray g) {
        if (p.isTrainable()) {
            p.grad().addi(g.castTo(p.grad().dataType()).reshape(p.shape()));
        }
    }

    /** Σ a[offset + i]·b[i] over b. */
    private static double dot(double[] a, int offset, double[] b) {
        double s = 0;
        for (int i = 0; i < b.length; i++) {
            s += a[offset + i] * b[i];
        }
        return s;
    }

    /** The values of {@code x} in c order, as doubles. */
    private static double[] flat(INDArray x) {
        return x.dup('c').data().asDouble();
    }

    /** The rows of a matrix {@code [T, n]} as doubles. */
    private static double[][] rows(INDArray x) {
        double[] v = flat(x);
        int cols = (int) x.columns();
        double[][] out = new double[(int) x.rows()][];
        for (int t = 0; t < out.length; t++) {
            out[t] = java.util.Arrays.copyOfRange(v, t * cols, (t + 1) * cols);
        }
        return out;
    }

    private static double sigmoid(double a) {
        return 1 / (1 + Math.exp(-a));
    }

    private static double[][] concat(double[][] a, double[][] b) {
        double[][] out = new double[a.length][a[0].length + b[0].length];
        for (int t = 0; t < a.length; t++) {
            System.arraycopy(a[t], 0, out[t], 0, a[t].length);
            System.arraycopy(b[t], 0, out[t], a[t].length, b[t].length);
        }
        return out;
    }

    @Override
    public String describe() {
        return "Lstm(input=" + inputSize + ", hidden=" + hidden + ", layers=" + numLayers + ", bidirectional)";
    }
}
