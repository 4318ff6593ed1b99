package org.peft4j.examples.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
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
import picocli.CommandLine;

class InfoAndLogitsCommandTest {
    @TempDir
    static Path dir;
    static Gpt2Model model;

    @BeforeAll
    static void saveATinyGpt2() throws Exception {
        model = Gpt2Model.random(Gpt2Config.builder().vocabSize(20).nPositions(16).nEmbd(8).nLayer(2).nHead(2).build(), 3, DataType.FLOAT,
                KernelChoice.AUTO);
        HfCheckpoint.save(model, dir);
    }

    /** Runs the CLI and returns {exit code, stdout, stderr}. */
    static Object[] run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine cli = Peft4jCli.commandLine();
        cli.setOut(new PrintWriter(out));
        cli.setErr(new PrintWriter(err));
        int code = cli.execute(args);
        return new Object[] {code, out.toString(), err.toString()};
    }

    @Test
    void logitsPrintsShapeAndRowMajorDataEqualToTheModel() throws Exception {
        Object[] r = run("logits", "--model", dir.toString(), "--ids", "1,2,3;4,5,6");
        assertEquals(0, r[0], (String) r[2]);
        JsonNode json = new ObjectMapper().readTree((String) r[1]);
        assertEquals("[2,3,20]", json.get("shape").toString());
        INDArray expected;
        try (Tape tape = Tape.inference(model.kernels())) {
            expected = model.forward(TokenBatch.causalLm(new int[][] {{1, 2, 3}, {4, 5, 6}}), tape);
        }
        assertEquals(2 * 3 * 20, json.get("data").size());
        for (int i = 0; i < 120; i++) {
            assertEquals(expected.getFloat(i / 20, i % 20), json.get("data").get(i).floatValue(), 1e-6f, "element " + i);
        }
    }

    @Test
    void logitsRejectsBadIdsWithOneLine() {
        Object[] r = run("logits", "--model", dir.toString(), "--ids", "1,x,3");
        assertEquals(Peft4jCli.EXIT_USAGE, r[0]);
        assertTrue(((String) r[2]).contains("'x' in sequence 1 is not a token id"), (String) r[2]);
        Object[] tooBig = run("logits", "--model", dir.toString(), "--ids", "1,25");
        assertTrue(((String) tooBig[2]).contains("outside the vocabulary [0, 20)"), (String) tooBig[2]);
        Object[] notAModel = run("logits", "--model", dir.resolve("nope").toString(), "--ids", "1");
        assertEquals(Peft4jCli.EXIT_FAILURE, notAModel[0]);
        assertTrue(((String) notAModel[2]).contains("no such file or directory"), (String) notAModel[2]);
        assertEquals(1, ((String) notAModel[2]).strip().lines().count(), "one line, no stack trace");
    }

    @Test
    void infoCountsParamsByModule() {
        Object[] r = run("info", "--model", dir.toString(), "--depth", "2");
        assertEquals(0, r[0], (String) r[2]);
        String out = (String) r[1];
        assertTrue(out.contains("model_type: gpt2"));
        long total = out.lines().filter(l -> l.startsWith("transformer.")).mapToLong(l -> Long.parseLong(l.replaceAll(".*\\s", "").replace(",", "")))
                .sum();
        long wte = 20 * 8;
        long wpe = 16 * 8;
        long block = 2 * 8 + (8 * 24 + 24) + (8 * 8 + 8) + 2 * 8 + (8 * 32 + 32) + (32 * 8 + 8);
        assertEquals(wte + wpe + 2 * block + 2 * 8, total);
        assertTrue(out.contains(String.format("all params: %,d", total)), out);
    }
}
