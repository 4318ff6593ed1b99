package org.peft4j.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.bytedeco.javacpp.Pointer;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.peft4j.core.kernel.Activation;
import org.peft4j.core.kernel.KernelChoice;
import org.peft4j.core.model.CausalLmTask;
import org.peft4j.core.model.TokenBatch;
import org.peft4j.core.model.gpt2.Gpt2Config;
import org.peft4j.core.model.gpt2.Gpt2Model;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.tuner.PeftModel;
import org.peft4j.lora.LoraConfig;

/**
 * Peak resident memory during QLoRA training steps, measured: a GPT-2 of 2 blocks at width 512 has 25 MB of float32
 * block weights; after quantizing them (which frees those weights: each is over glibc's mmap threshold, so the pages
 * go back to the system), three forward-backward steps on 12 tokens must not raise the resident set by more than
 * three quarters of that (measured: about 4.5 MB on a quiet machine, up to 11.8 MB with other JVMs starting threads
 * beside it: new threads and allocator arenas add to the resident set too). Keeping a dequantized copy of every weight for backward, or leaving them to the garbage collector,
 * would add ~25 MB; the one reused scratch buffer holds the largest weight (4 MB).
 */
class QLoraMemoryTest {
    private static Gpt2Model gpt2(int width) {
        Gpt2Config config = Gpt2Config.builder().vocabSize(64).nPositions(32).nEmbd(width).nLayer(2).nHead(4).nInner(4 * width)
                .activation(Activation.GELU_TANH).dropout(0.0).build();
        return Gpt2Model.random(config, 1, DataType.FLOAT, KernelChoice.AUTO);
    }

    private static void steps(Gpt2Model gpt2, TokenBatch batch) {
        CausalLmTask task = new CausalLmTask(gpt2);
        for (int step = 0; step < 3; step++) {
            try (Tape t = Tape.recordingWithoutDropout(gpt2.kernels())) {
                task.forward(batch, t);
                task.backward(t, 1.0);
            }
        }
    }

    private static PeftModel<Gpt2Model> qlora(Gpt2Model gpt2) {
        return PeftModel.builder(gpt2).adapter("default", LoraConfig.builder().r(8).loraAlpha(16).targetModules("c_attn", "c_proj", "c_fc").build())
                .seed(1).build();
    }

    @Test
    void aTrainingStepHoldsNoFloatCopyOfTheQuantizedWeights() throws Exception {
        int[] ids = new int[12];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = (i * 7 + 3) % 64;
        }
        TokenBatch batch = new TokenBatch(1, 12, ids, null, ids);
        Gpt2Model small = gpt2(64);                    // warm up on a small model: JIT compilation, threads and BLAS buffers take memory too
        Quantization.qlora().apply(small);
        try (PeftModel<Gpt2Model> peft = qlora(small)) {
            steps(small, batch);
        }
        Gpt2Model gpt2 = gpt2(512);
        Quantization.Report report = Quantization.qlora().apply(gpt2);
        long dense = report.denseBytes();
        assertEquals(2L * (512 * 1536 + 512 * 512 + 2 * 512 * 2048) * 4, dense);
        assertTrue(report.ratio() < 0.135, "NF4 with double quantization stores " + report.ratio() + " of float32");
        try (PeftModel<Gpt2Model> peft = qlora(gpt2)) {
            System.gc();
            long before = Pointer.physicalBytes();
            AtomicLong peak = new AtomicLong(before);
            AtomicBoolean running = new AtomicBoolean(true);
            Thread sampler = new Thread(() -> {
                while (running.get()) {
                    peak.accumulateAndGet(Pointer.physicalBytes(), Math::max);
                    try {
                        Thread.sleep(1);
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            });
            sampler.start();
            steps(gpt2, batch);
            running.set(false);
            sampler.join();
            long growth = peak.get() - before;
            assertTrue(growth < dense * 3 / 4, "peak growth " + growth / 1e6 + " MB during 3 steps; the float32 block weights are " + dense / 1e6 + " MB");
            assertTrue(peft.registry().trainable().stream().filter(np -> np.path().contains("lora_B"))
                    .allMatch(np -> np.param().grad().norm2Number().doubleValue() > 0), "the steps computed gradients (B; A's are 0 while B = 0)");
        }
    }
}
