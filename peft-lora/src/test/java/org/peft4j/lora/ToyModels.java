package org.peft4j.lora;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Map;
import java.util.SplittableRandom;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.kernel.Activation;
import org.peft4j.core.kernel.KernelChoice;
import org.peft4j.core.kernel.Kernels;
import org.peft4j.core.model.PretrainedModel;
import org.peft4j.core.model.SequenceClassifier;
import org.peft4j.core.model.TokenBatch;
import org.peft4j.core.nn.ActivationLayer;
import org.peft4j.core.nn.Embedding;
import org.peft4j.core.nn.EmbeddingLayer;
import org.peft4j.core.nn.Init;
import org.peft4j.core.nn.Layer;
import org.peft4j.core.nn.Linear;
import org.peft4j.core.nn.Linear.WeightLayout;
import org.peft4j.core.nn.Module;
import org.peft4j.core.nn.SequenceContext;
import org.peft4j.core.nn.Slot;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.param.Param;
import org.peft4j.core.param.ParamRegistry;

/** Small models built from core modules, shaped like the custom models of HF PEFT's tests. */
final class ToyModels {
    private ToyModels() {
    }

    /** A frozen Linear with weight and bias ~ U(±1/√in), as torch initialises one. */
    static Linear linear(int in, int out, boolean bias, WeightLayout layout, DataType type, SplittableRandom rng) {
        double bound = 1.0 / Math.sqrt(in);
        long[] shape = layout == WeightLayout.OUT_IN ? new long[] {out, in} : new long[] {in, out};
        Param w = Param.frozen("weight", Init.uniform(type, bound, rng, shape));
        Param b = bias ? Param.frozen("bias", Init.uniform(type, bound, rng, out)) : null;
        return new Linear(w, b, layout);
    }

    /** Any module tree as a model of the given model_type (for matching tests; it has no forward). */
    static final class Tree implements PretrainedModel {
        private final Module root;
        private final String type;

        Tree(Module root, String type) {
            this.root = root;
            this.type = type;
        }

        @Override
        public Module module() {
            return root;
        }

        @Override
        public Kernels kernels() {
            return KernelChoice.PORTABLE.resolve();
        }

        @Override
        public String modelType() {
            return type;
        }

        @Override
        public ObjectNode hfConfig() {
            return JsonNodeFactory.instance.objectNode().put("model_type", type);
        }

        @Override
        public Map<String, INDArray> hfStateDict() {
            return new ParamRegistry(root).export(np -> true);
        }
    }

    /** A module with named Layer children (HF's custom nn.Module); forward is not used. */
    static final class Node extends Layer {
        Node(Object... namesAndModules) {
            for (int i = 0; i < namesAndModules.length; i += 2) {
                child((String) namesAndModules[i], Layer.class, (Layer) namesAndModules[i + 1]);
            }
        }

        @Override
        public INDArray forward(INDArray x, Tape tape) {
            throw new UnsupportedOperationException("a matching-only node");
        }

        @Override
        public INDArray backward(INDArray gradOutput, Tape tape) {
            throw new UnsupportedOperationException("a matching-only node");
        }
    }

    /**
     * HF PEFT's MLP test model: {@code lin0} Linear(in→hidden, bias), ReLU, {@code lin1} Linear(hidden→out).
     * Every row of the input is one sequence of length 1.
     */
    static final class Mlp extends Module implements PretrainedModel {
        private final Slot<Layer> lin0;
        private final ActivationLayer relu = new ActivationLayer(Activation.RELU);
        private final Slot<Layer> lin1;
        private final Kernels kernels;

        Mlp(int in, int hidden, int out, DataType type, long seed) {
            SplittableRandom rng = new SplittableRandom(seed);
            this.lin0 = child("lin0", Layer.class, linear(in, hidden, true, WeightLayout.OUT_IN, type, rng));
            this.lin1 = child("lin1", Layer.class, linear(hidden, out, true, WeightLayout.OUT_IN, type, rng));
            this.kernels = KernelChoice.PORTABLE.resolve();
        }

        INDArray forward(INDArray x, Tape tape) {
            tape.setContext(new SequenceContext((int) x.rows(), 1, null));
            return lin1.get().forward(relu.forward(lin0.get().forward(x, tape), tape), tape);
        }

        INDArray backward(INDArray g, Tape tape) {
            return lin0.get().backward(relu.backward(lin1.get().backward(g, tape), tape), tape);
        }

        @Override
        public Module module() {
            return this;
        }

        @Override
        public Kernels kernels() {
            return kernels;
        }

        @Override
        public String modelType() {
            return "mlp";
        }

        @Override
        public ObjectNode hfConfig() {
            return JsonNodeFactory.instance.objectNode().put("model_type", "mlp");
        }

        @Override
        public Map<String, INDArray> hfStateDict() {
            return new ParamRegistry(this).export(np -> true);
        }
    }

    /**
     * A sequence classifier: {@code embed} (Embedding) → {@code dense} (Linear) → tanh → mean over each
     * sequence → {@code classifier} (Linear) giving {@code [batch, labels]}.
     */
    static final class Classifier extends Module implements SequenceClassifier {
        private final Slot<EmbeddingLayer> embed;
        private final Slot<Layer> dense;
        private final ActivationLayer tanh = new ActivationLayer(Activation.TANH);
        private final Slot<Layer> classifier;
        private final int labels;
        private final Kernels kernels;

        private record Saved(int batch, int seq) {
        }

        Classifier(int vocab, int dim, int labels, DataType type, long seed) {
            SplittableRandom rng = new SplittableRandom(seed);
            this.embed = child("embed", EmbeddingLayer.class, Embedding.normal(vocab, dim, 1.0, type, rng));
            this.dense = child("dense", Layer.class, linear(dim, dim, true, WeightLayout.OUT_IN, type, rng));
            this.classifier = child("classifier", Layer.class, linear(dim, labels, true, WeightLayout.OUT_IN, type, rng));
            this.labels = labels;
            this.kernels = KernelChoice.PORTABLE.resolve();
        }

        @Override
        public int numLabels() {
            return labels;
        }

        @Override
        public INDArray forward(TokenBatch batch, Tape tape) {
            tape.setContext(new SequenceContext(batch.batch(), batch.seqLen(), batch.attentionMask()));
            INDArray h = tanh.forward(dense.get().forward(embed.get().forward(batch.ids(), tape), tape), tape);   // [B·T, d]
            INDArray pooled = h.reshape(batch.batch(), batch.seqLen(), h.columns()).mean(1);                       // [B, d]
            tape.push(this, new Saved(batch.batch(), batch.seqLen()));
            return classifier.get().forward(pooled.dup('c'), tape);                                               // [B, labels]
        }

        @Override
        public void backward(INDArray gradLogits, Tape tape) {
            INDArray gPooled = classifier.get().backward(gradLogits, tape);                                       // [B, d]
            Saved s = tape.pop(this, Saved.class);
            INDArray g = org.nd4j.linalg.factory.Nd4j.zeros(gPooled.dataType(), (long) s.batch() * s.seq(), gPooled.columns());
            for (int b = 0; b < s.batch(); b++) {                                                                // mean: dL/dh = g/T per row
                g.get(org.nd4j.linalg.indexing.NDArrayIndex.interval(b * s.seq(), (b + 1) * s.seq()), org.nd4j.linalg.indexing.NDArrayIndex.all())
                        .addiRowVector(gPooled.getRow(b).div(s.seq()));
            }
            embed.get().backward(dense.get().backward(tanh.backward(g, tape), tape), tape);
        }

        @Override
        public Module module() {
            return this;
        }

        @Override
        public Kernels kernels() {
            return kernels;
        }

        @Override
        public String modelType() {
            return "toy-classifier";
        }

        @Override
        public ObjectNode hfConfig() {
            return JsonNodeFactory.instance.objectNode().put("model_type", "toy-classifier");
        }

        @Override
        public Map<String, INDArray> hfStateDict() {
            return new ParamRegistry(this).export(np -> true);
        }
    }
}
