package org.peft4j.examples.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Path;
import java.util.Arrays;
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

class GenerateCommandTest {
    @Test
    void greedyGenerationEqualsRepeatedArgmaxOfTheFullSequence(@TempDir Path dir) throws Exception {
        Gpt2Model model = Gpt2Model.random(Gpt2Config.builder().vocabSize(256).nPositions(32).nEmbd(16).nLayer(2).nHead(2).build(), 11,
                DataType.FLOAT, KernelChoice.AUTO);
        HfCheckpoint.save(model, dir);
        Object[] r = InfoAndLogitsCommandTest.run("generate", "--model", dir.toString(), "--prompt", "Hi", "--max-new-tokens", "6");
        assertEquals(0, r[0], (String) r[2]);
        JsonNode json = new ObjectMapper().readTree((String) r[1]);
        int[] ids = new int[json.get("ids").size()];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = json.get("ids").get(i).asInt();
        }
        assertEquals(6, ids.length);
        // the same tokens by running the whole sequence each time and taking the last row's argmax
        int[] sequence = new ByteTokenizer().encode("Hi");
        int[] expected = new int[6];
        for (int step = 0; step < 6; step++) {
            INDArray logits;
            try (Tape tape = Tape.inference(model.kernels())) {
                logits = model.forward(TokenBatch.causalLm(new int[][] {sequence}), tape);
            }
            expected[step] = logits.getRow(sequence.length - 1).argMax().getInt(0);
            sequence = Arrays.copyOf(sequence, sequence.length + 1);
            sequence[sequence.length - 1] = expected[step];
        }
        assertArrayEquals(expected, ids);
        assertEquals(new ByteTokenizer().decode(ids), json.get("text").asText());
        Object[] bad = InfoAndLogitsCommandTest.run("generate", "--model", dir.toString(), "--prompt", "Hi", "--top-p", "1.5");
        assertEquals(Peft4jCli.EXIT_USAGE, bad[0]);
        assertTrue(((String) bad[2]).contains("--top-p must be in (0, 1]"), (String) bad[2]);
    }
}
