package org.peft4j.examples.bench;

import java.util.Locale;
import java.util.SplittableRandom;
import java.util.regex.Pattern;
import org.nd4j.linalg.api.buffer.DataType;
import org.peft4j.core.kernel.KernelChoice;
import org.peft4j.core.model.CausalLmTask;
import org.peft4j.core.model.PretrainedModel;
import org.peft4j.core.model.SequenceClassificationTask;
import org.peft4j.core.model.TokenBatch;
import org.peft4j.core.model.bert.BertConfig;
import org.peft4j.core.model.bert.BertForSequenceClassification;
import org.peft4j.core.model.gpt2.Gpt2Config;
import org.peft4j.core.model.gpt2.Gpt2Model;
import org.peft4j.core.model.llama.LlamaConfig;
import org.peft4j.core.model.llama.LlamaModel;
import org.peft4j.core.param.ParamRegistry;
import org.peft4j.core.train.TrainableTask;
import org.peft4j.core.tuner.PeftModel;
import org.peft4j.core.tuner.TaskType;
import org.peft4j.lora.LoraConfig;
import org.peft4j.quant.Quantization;

/**
 * A model, its setup (what trains), a task and one fixed batch: the unit the benchmarks time. The
 * models and shapes match {@code benchmarks/pytorch/step_bench.py}, so the two can be compared.
 *
 * @param model  the model (its tree includes any adapter wrappers)
 * @param task   the trainable task (wrapped by the PEFT model for adapter setups)
 * @param batch  the batch every step runs on
 * @param peft   the PEFT model of an adapter setup, or null
 */
public record Workload(PretrainedModel model, TrainableTask<TokenBatch> task, TokenBatch batch, PeftModel<?> peft) {
    /** Which params train. */
    public enum Setup {
        /** Every param trainable. */
        FULL,
        /** Everything frozen except the last transformer block. */
        LAST_BLOCK,
        /** LoRA r 8, alpha 16 on the attention projections (GPT-2: c_attn; BERT: query, value); the base frozen. */
        LORA,
        /** {@link #LORA} over a base whose transformer-block Linears are NF4 with double quantization (QLoRA). */
        QLORA;

        /** "full", "last-block", "lora". */
        public String label() {
            return name().toLowerCase(Locale.ROOT).replace('_', '-');
        }
    }

    /** The GPT-2 style decoder of {@link Spec}, causal-LM loss over a random batch. */
    public static Workload gpt(Spec spec, Setup setup) {
        Gpt2Config config = Gpt2Config.builder().vocabSize(spec.vocab()).nPositions(Math.max(1024, spec.seqLen())).nEmbd(spec.hidden())
                .nLayer(spec.layers()).nHead(spec.heads()).dropout(0.0).build();
        Gpt2Model model = Gpt2Model.random(config, 1, DataType.FLOAT, spec.kernels());
        TokenBatch batch = TokenBatch.causalLm(randomIds(spec.batch(), spec.seqLen(), spec.vocab(), 7));
        CausalLmTask task = new CausalLmTask(model);
        return switch (setup) {
            case FULL -> {
                new ParamRegistry(model).unfreezeAll();
                yield new Workload(model, task, batch, null);
            }
            case LAST_BLOCK -> {
                new ParamRegistry(model).unfreezeMatching(Pattern.compile("transformer\\.h\\." + (config.nLayer() - 1) + "\\..*"));
                yield new Workload(model, task, batch, null);
            }
            case LORA, QLORA -> {
                if (setup == Setup.QLORA) {
                    Quantization.qlora().apply(model);
                }
                LoraConfig lora = LoraConfig.builder().r(8).loraAlpha(16).targetModules("c_attn").taskType(TaskType.CAUSAL_LM).build();
                PeftModel<Gpt2Model> peft = PeftModel.builder(model).adapter("default", lora).seed(1).build();
                yield new Workload(model, peft.trainableTask(task), batch, peft);
            }
        };
    }

    /**
     * The shape of all-MiniLM-L6-v2 (BERT: vocab 30522, d 384, 6 layers, 12 heads, MLP 1536) with mean
     * pooling and a 2-label classifier, over a random batch of {@code spec.batch() × spec.seqLen()}.
     */
    public static Workload bert(Spec spec, Setup setup) {
        BertConfig config = BertConfig.builder().vocabSize(30522).hiddenSize(384).numHiddenLayers(6).numAttentionHeads(12)
                .intermediateSize(1536).maxPositionEmbeddings(512).dropout(0.0).numLabels(2).build();
        BertForSequenceClassification model = BertForSequenceClassification.random(config, BertForSequenceClassification.Pooling.MEAN, 1,
                DataType.FLOAT, spec.kernels());
        int[][] ids = randomIds(spec.batch(), spec.seqLen(), 30522, 7);
        int[] flat = new int[spec.batch() * spec.seqLen()];
        int[] labels = new int[spec.batch()];
        SplittableRandom rng = new SplittableRandom(8);
        for (int b = 0; b < spec.batch(); b++) {
            System.arraycopy(ids[b], 0, flat, b * spec.seqLen(), spec.seqLen());
            labels[b] = rng.nextInt(2);
        }
        TokenBatch batch = new TokenBatch(spec.batch(), spec.seqLen(), flat, null, labels);
        SequenceClassificationTask task = new SequenceClassificationTask(model);
        return switch (setup) {
            case FULL -> {
                new ParamRegistry(model).unfreezeAll();
                yield new Workload(model, task, batch, null);
            }
            case LAST_BLOCK -> {
                new ParamRegistry(model).unfreezeMatching(Pattern.compile("(bert\\.encoder\\.layer\\.5\\.|classifier\\.).*"));
                yield new Workload(model, task, batch, null);
            }
            case LORA, QLORA -> {
                if (setup == Setup.QLORA) {
                    Quantization.qlora().apply(model);
                }
                LoraConfig lora = LoraConfig.builder().r(8).loraAlpha(16).targetModules("query", "value").taskType(TaskType.SEQ_CLS).build();
                PeftModel<BertForSequenceClassification> peft = PeftModel.builder(model).adapter("default", lora).seed(1).build();
                yield new Workload(model, peft.trainableTask(task), batch, peft);
            }
        };
    }

    /**
     * A LLaMA-style decoder of {@code spec.hidden()} and {@code spec.layers()} (MLP 2.75 × hidden, as
     * LLaMA's 2048 → 5632; key/value heads = heads; vocab {@code spec.vocab()}), causal-LM loss over a random
     * batch; LoRA r 8, alpha 16 on q_proj and v_proj. Only {@link Setup#LORA} and {@link Setup#QLORA}: a full
     * fine-tuning of this size does not fit where it is meant to run.
     */
    public static Workload llama(Spec spec, Setup setup) {
        if (setup != Setup.LORA && setup != Setup.QLORA) {
            throw new IllegalArgumentException("the LLaMA-style workload runs lora or qlora, not " + setup.label());
        }
        int mlp = (int) Math.round(spec.hidden() * 2.75 / 256) * 256;
        LlamaConfig config = LlamaConfig.builder().vocabSize(spec.vocab()).hiddenSize(spec.hidden()).intermediateSize(mlp)
                .numHiddenLayers(spec.layers()).numAttentionHeads(spec.heads()).numKeyValueHeads(spec.heads())
                .maxPositionEmbeddings(Math.max(2048, spec.seqLen())).build();
        LlamaModel model = LlamaModel.random(config, 1, DataType.FLOAT, spec.kernels());
        if (setup == Setup.QLORA) {
            Quantization.qlora().apply(model);
        }
        LoraConfig lora = LoraConfig.builder().r(8).loraAlpha(16).targetModules("q_proj", "v_proj").taskType(TaskType.CAUSAL_LM).build();
        PeftModel<LlamaModel> peft = PeftModel.builder(model).adapter("default", lora).seed(1).build();
        TokenBatch batch = TokenBatch.causalLm(randomIds(spec.batch(), spec.seqLen(), spec.vocab(), 7));
        return new Workload(model, peft.trainableTask(new CausalLmTask(model)), batch, peft);
    }

    private static int[][] randomIds(int batch, int seq, int vocab, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        int[][] rows = new int[batch][seq];
        for (int[] row : rows) {
            for (int t = 0; t < seq; t++) {
                row[t] = rng.nextInt(vocab);
            }
        }
        return rows;
    }

    /**
     * Shape of a GPT benchmark and how long to run it.
     *
     * @param vocab   vocabulary size
     * @param hidden  hidden size
     * @param layers  transformer blocks
     * @param heads   attention heads
     * @param seqLen  tokens per sequence
     * @param batch   sequences per step
     * @param warmup  untimed steps per setup before the first round
     * @param steps   timed steps per setup and round
     * @param rounds  rounds; each runs every setup once
     * @param kernels which kernels run
     */
    public record Spec(int vocab, int hidden, int layers, int heads, int seqLen, int batch, int warmup, int steps, int rounds,
            KernelChoice kernels) {
        /** The GPT config of the benchmarks: vocab 256, d 256, 4 layers, 4 heads, seq 128, batch 8. */
        public static Spec gptStandard() {
            return new Spec(256, 256, 4, 4, 128, 8, 3, 10, 3, KernelChoice.AUTO);
        }

        /** The MiniLM-sized BERT of the benchmarks: seq 128, batch 16 (the model's shape is fixed). */
        public static Spec bertStandard() {
            return new Spec(30522, 384, 6, 12, 128, 16, 3, 10, 3, KernelChoice.AUTO);
        }
    }
}
