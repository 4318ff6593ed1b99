package org.peft4j.examples.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.model.TokenBatch;
import org.peft4j.core.model.gpt2.Gpt2Model;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.tuner.PeftModel;

/**
 * {@code train --method ptuning --ptuning-template 2,input,1} on a tiny GPT-2 lowers the loss and saves the template;
 * {@code logits --adapter} prints the rows of the given tokens only (virtual rows dropped, also for a padded
 * sequence), as the adapter loaded through the API computes them; generation and bad templates fail with the reason.
 */
class PTuningTemplateCommandTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void aTemplatedPTuningAdapterTrainsAndServesLogits(@TempDir Path dir) throws Exception {
        Path base = PromptCommandsTest.tinyGpt2AndText(dir);
        Path data = dir.resolve("lm.jsonl");
        Path out = dir.resolve("ptuning");
        Object[] trained = InfoAndLogitsCommandTest.run("train", "--model", base.toString(), "--task", "causal-lm", "--train", data.toString(),
                "--eval", data.toString(), "--epochs", "4", "--batch-size", "8", "--lr", "2e-2", "--warmup-ratio", "0", "--method", "ptuning",
                "--num-virtual-tokens", "3", "--encoder-hidden-size", "8", "--ptuning-template", "2,input,1", "--out", out.toString());
        assertEquals(0, trained[0], (String) trained[2]);
        String[] lines = ((String) trained[1]).trim().split("\n");
        JsonNode metrics = JSON.readTree(lines[lines.length - 1]);
        assertTrue(metrics.get("eval_loss").asDouble() < metrics.get("before_eval_loss").asDouble(), metrics.toString());
        JsonNode config = JSON.readTree(out.resolve("adapter_config.json").toFile());
        assertEquals("2,input,1", config.get("peft4j_template").asText());

        Object[] r = InfoAndLogitsCommandTest.run("logits", "--model", base.toString(), "--adapter", out.toString(), "--ids", "97,98,99,97;98,99");
        assertEquals(0, r[0], (String) r[2]);
        JsonNode logits = JSON.readTree((String) r[1]);
        assertEquals("[2,4,256]", logits.get("shape").toString(), "the given tokens only, virtual rows dropped");
        Gpt2Model fresh = (Gpt2Model) ModelLoader.load(base.toString(), ModelLoader.describedOptions(base.toString()));
        int[][] sequences = {{97, 98, 99, 97}, {98, 99}};
        try (PeftModel<Gpt2Model> peft = PeftModel.load(fresh, out)) {
            for (int s = 0; s < 2; s++) {
                int[] ids = sequences[s];
                INDArray alone;
                try (Tape tape = Tape.inference(fresh.kernels())) {
                    alone = fresh.forward(TokenBatch.causalLm(new int[][] {ids}), tape).dup();        // rows: 2 virtual, the tokens, 1 virtual
                }
                assertEquals(ids.length + 3, alone.rows());
                for (int i = 0; i < ids.length * 256; i++) {
                    assertEquals(alone.getDouble(2 + i / 256, i % 256), logits.get("data").get(s * 4 * 256 + i).asDouble(), 1e-5,
                            "sequence " + s + ", token " + i / 256);
                }
            }
        }
        Object[] generated = InfoAndLogitsCommandTest.run("generate", "--model", base.toString(), "--adapter", out.toString(), "--prompt", "ab",
                "--max-new-tokens", "2");
        assertNotEquals(0, generated[0]);
        assertTrue(((String) generated[2]).contains("virtual tokens all precede the input"), (String) generated[2]);

        Object[] bad = InfoAndLogitsCommandTest.run("train", "--model", base.toString(), "--task", "causal-lm", "--train", data.toString(),
                "--method", "ptuning", "--num-virtual-tokens", "4", "--ptuning-template", "2,input,1", "--out", dir.resolve("bad").toString());
        assertNotEquals(0, bad[0]);
        assertTrue(((String) bad[2]).contains("has 3 virtual tokens but num_virtual_tokens = 4"), (String) bad[2]);
    }
}
