package org.peft4j.lora;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.kernel.KernelChoice;
import org.peft4j.core.testing.TinyModels;
import org.peft4j.core.model.TokenBatch;
import org.peft4j.core.model.gpt2.Gpt2Model;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.tuner.PeftModel;
import org.peft4j.core.tuner.TunerLayer;

/**
 * Inference on one model with several adapters from many threads at once: each call picks its own
 * adapter per sequence (one adapter for all, a mix, or the base model) and must get exactly the logits a
 * single thread gets for the same call. 8 threads × 1,000 calls, with the CPU kernels.
 */
class ConcurrentInferenceTest {
    private static final int THREADS = 8;
    private static final int CALLS_PER_THREAD = 1000;

    /** One inference call: the tokens and the adapter of each sequence. */
    private record Call(TokenBatch batch, List<String> adapters) {
    }

    private static INDArray logits(PeftModel<Gpt2Model> peft, Call call) {
        try (PeftModel.Scope choice = peft.adapterPerSequence(call.adapters()); Tape tape = Tape.inference(peft.base().kernels())) {
            return peft.base().forward(call.batch(), tape).dup();
        }
    }

    private static List<Call> calls(SplittableRandom rng) {
        List<String> names = List.of("a", "b", TunerLayer.BASE);
        List<Call> calls = new ArrayList<>();
        for (int i = 0; i < 24; i++) {
            int[][] tokens = new int[3][5];
            List<String> adapters = new ArrayList<>();
            String all = names.get(i % 3);
            for (int s = 0; s < 3; s++) {
                for (int t = 0; t < 5; t++) {
                    tokens[s][t] = rng.nextInt(TinyModels.tinyGpt2().vocabSize());
                }
                adapters.add(i < 12 ? all : names.get(rng.nextInt(3)));   // the first half: one choice for the whole call
            }
            calls.add(new Call(TokenBatch.causalLm(tokens), adapters));
        }
        return calls;
    }

    @Test
    void manyThreadsGetWhatOneThreadGets() throws Exception {
        Gpt2Model gpt2 = TinyModels.gpt2(TinyModels.tinyGpt2(), 5, DataType.FLOAT, KernelChoice.AUTO);
        try (PeftModel<Gpt2Model> peft = PeftModel.builder(gpt2)
                .adapter("a", LoraConfig.builder().targetModules("c_attn", "c_proj").initLoraWeights(LoraInit.RANDOM).build())
                .adapter("b", LoraConfig.builder().targetModules("c_attn", "c_fc", "wte").r(3).initLoraWeights(LoraInit.RANDOM).build())
                .seed(9).build()) {
            List<Call> calls = calls(new SplittableRandom(17));
            List<float[]> expected = new ArrayList<>();
            for (Call call : calls) {
                expected.add(logits(peft, call).data().asFloat());
            }
            ExecutorService pool = Executors.newFixedThreadPool(THREADS);
            try {
                List<Future<Integer>> results = new ArrayList<>();
                for (int t = 0; t < THREADS; t++) {
                    SplittableRandom rng = new SplittableRandom(100 + t);
                    results.add(pool.submit(() -> {
                        int checked = 0;
                        for (int i = 0; i < CALLS_PER_THREAD; i++) {
                            int pick = rng.nextInt(calls.size());
                            float[] got = logits(peft, calls.get(pick)).data().asFloat();
                            if (!java.util.Arrays.equals(expected.get(pick), got)) {
                                throw new AssertionError("call " + pick + " (" + calls.get(pick).adapters() + ") on "
                                        + Thread.currentThread().getName() + " differs from the single-threaded logits");
                            }
                            checked++;
                        }
                        return checked;
                    }));
                }
                int total = 0;
                for (Future<Integer> r : results) {
                    total += r.get(10, TimeUnit.MINUTES);
                }
                assertEquals(THREADS * CALLS_PER_THREAD, total);
            } finally {
                pool.shutdownNow();
            }
        }
    }
}
