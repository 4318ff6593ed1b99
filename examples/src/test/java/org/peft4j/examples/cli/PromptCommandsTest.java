package org.peft4j.examples.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.kernel.KernelChoice;
import org.peft4j.core.model.HfCheckpoint;
import org.peft4j.core.model.TokenBatch;
import org.peft4j.core.model.gpt2.Gpt2Config;
import org.peft4j.core.model.gpt2.Gpt2Model;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.tokenizer.ByteTokenizer;
import org.peft4j.core.tuner.PeftModel;

/**
 * {@code train --method prompt|prefix} on a tiny GPT-2 learns a repeated text; {@code logits --adapter} prints the
 * logits of the given tokens only and {@code generate --adapter} continues greedily, both as the adapter loaded
 * through the API computes them.
 */
class PromptCommandsTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private static JsonNode lastLine(Object[] result) throws Exception {
        assertEquals(0, result[0], (String) result[2]);
        String[] lines = ((String) result[1]).trim().split("\n");
        return JSON.readTree(lines[lines.length - 1]);
    }

    /** A random byte-vocabulary GPT-2 (d 16, 2 layers, 48 positions) saved to dir/base, and 16 lines of text in dir/lm.jsonl. */
    static Path tinyGpt2AndText(Path dir) throws Exception {
        Gpt2Model model = Gpt2Model.random(Gpt2Config.builder().vocabSize(256).nPositions(48).nEmbd(16).nLayer(2).nHead(2).dropout(0.0).build(),
                7, DataType.FLOAT, KernelChoice.AUTO);
        Path base = dir.resolve("base");
        HfCheckpoint.save(model, base);
        List<String> texts = new ArrayList<>();
        for (int i = 0; i < 16; i++) {
            texts.add("{\"text\":\"abcabcabcabc\"}");
        }
        Files.write(dir.resolve("lm.jsonl"), texts);
        return base;
    }

    @Test
    void promptMethodsTrainAndTheirAdaptersServeLogitsAndGeneration(@TempDir Path dir) throws Exception {
        Path base = tinyGpt2AndText(dir);
        String[][] methods = {{"prefix", "--encoder-hidden-size", "8"}, {"prompt", "--prompt-init", "text", "--prompt-init-text", "abc"}};
        for (String[] method : methods) {
            Path out = dir.resolve(method[0]);
            List<String> args = new ArrayList<>(List.of("train", "--model", base.toString(), "--task", "causal-lm", "--train",
                    dir.resolve("lm.jsonl").toString(), "--eval", dir.resolve("lm.jsonl").toString(), "--epochs", "6", "--batch-size", "8",
                    "--lr", "5e-2", "--warmup-ratio", "0", "--method", method[0], "--num-virtual-tokens", "4", "--out", out.toString()));
            args.addAll(Arrays.asList(method).subList(1, method.length));
            JsonNode trained = lastLine(InfoAndLogitsCommandTest.run(args.toArray(new String[0])));
            assertTrue(trained.get("eval_loss").asDouble() < trained.get("before_eval_loss").asDouble(), method[0] + ": " + trained);
            assertTrue(Files.isRegularFile(out.resolve("adapter_model.safetensors")));

            int[] ids = {97, 98, 99, 97};
            JsonNode logits = JSON.readTree((String) InfoAndLogitsCommandTest.run("logits", "--model", base.toString(), "--adapter", out.toString(),
                    "--ids", "97,98,99,97")[1]);
            assertEquals("[1,4,256]", logits.get("shape").toString(), "the given tokens only, virtual positions dropped");
            Gpt2Model fresh = (Gpt2Model) ModelLoader.load(base.toString(), ModelLoader.describedOptions(base.toString()));
            try (PeftModel<Gpt2Model> peft = PeftModel.load(fresh, out)) {
                INDArray expected;
                try (Tape tape = Tape.inference(fresh.kernels())) {
                    expected = fresh.forward(TokenBatch.causalLm(new int[][] {ids}), tape).dup();
                }
                long skip = expected.rows() - ids.length;
                for (int i = 0; i < ids.length * 256; i++) {
                    assertEquals(expected.getDouble(skip + i / 256, i % 256), logits.get("data").get(i).asDouble(), 1e-5);
                }
                JsonNode generated = JSON.readTree((String) InfoAndLogitsCommandTest.run("generate", "--model", base.toString(), "--adapter",
                        out.toString(), "--prompt", "ab", "--max-new-tokens", "4")[1]);
                int[] sequence = new ByteTokenizer().encode("ab");
                int[] greedy = new int[4];
                for (int step = 0; step < 4; step++) {
                    INDArray full;
                    try (Tape tape = Tape.inference(fresh.kernels())) {
                        full = fresh.forward(TokenBatch.causalLm(new int[][] {sequence}), tape);
                    }
                    greedy[step] = full.getRow(full.rows() - 1).argMax().getInt(0);
                    sequence = Arrays.copyOf(sequence, sequence.length + 1);
                    sequence[sequence.length - 1] = greedy[step];
                }
                int[] cli = new int[4];
                for (int i = 0; i < 4; i++) {
                    cli[i] = generated.get("ids").get(i).asInt();
                }
                assertArrayEquals(greedy, cli, method[0] + ": generation with the adapter");
            }
        }
    }
}
