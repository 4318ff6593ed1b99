package org.peft4j.examples.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.io.SafetensorsFile;
import org.peft4j.core.kernel.KernelChoice;
import org.peft4j.core.model.gpt2.Gpt2Config;
import org.peft4j.core.model.gpt2.Gpt2Model;
import org.peft4j.core.param.ParamRegistry;
import org.peft4j.core.train.LossCsvWriter;

class PretrainCommandTest {
    @TempDir
    Path out;

    @Test
    void tinyRunLearnsAndSavesAnHfGpt2Model() throws Exception {
        Peft4jCliTest.Run run = Peft4jCliTest.run("pretrain", "--hidden", "32", "--layers", "1", "--heads", "2", "--seq-len", "32",
                "--batch-size", "8", "--steps", "30", "--warmup", "3", "--max-lines", "200", "--val-fraction", "0.05", "--eval-every", "10",
                "--eval-batches", "4", "--log-every", "10", "--sample-bytes", "8", "--out", out.toString());
        assertEquals(0, run.exitCode(), run.err());

        // the summary is the last line on stdout
        List<String> lines = run.out().lines().toList();
        JsonNode summary = new ObjectMapper().readTree(lines.get(lines.size() - 1));
        assertEquals(30, summary.get("steps").asInt());
        assertTrue(summary.get("eval_loss").asDouble() < Math.log(256), summary.toString());
        assertEquals(Math.exp(summary.get("eval_loss").asDouble()), summary.get("eval_perplexity").asDouble(), 1e-3);

        // config.json has HF's names and describes the trained model
        JsonNode json = new ObjectMapper().readTree(out.resolve("config.json").toFile());
        assertEquals("gpt2", json.get("model_type").asText());
        assertEquals("GPT2LMHeadModel", json.get("architectures").get(0).asText());
        assertEquals(256, json.get("vocab_size").asInt());
        assertEquals(32, json.get("n_embd").asInt());
        assertEquals(128, json.get("n_inner").asInt());
        Gpt2Config config = Gpt2Config.fromHfJson(new com.fasterxml.jackson.databind.ObjectMapper().readTree(out.resolve("config.json").toFile()));
        assertEquals(1, config.nLayer());
        assertEquals(2, config.nHead());
        assertEquals(32, config.nPositions());

        // model.safetensors holds every param of that model, by its path and shape
        Gpt2Model reference = Gpt2Model.random(config, 0, DataType.FLOAT, KernelChoice.PORTABLE);
        Map<String, INDArray> expected = new ParamRegistry(reference).export(np -> true);
        try (SafetensorsFile file = SafetensorsFile.open(out.resolve("model.safetensors"))) {
            assertEquals(expected.keySet(), file.names());
            assertEquals("pt", file.metadata().get("format"));
            for (Map.Entry<String, INDArray> e : expected.entrySet()) {
                assertArrayEquals(e.getValue().shape(), file.info(e.getKey()).shape(), e.getKey());
            }
            assertTrue(file.names().contains("transformer.wte.weight"), file.names().toString());
        }

        // the training loss went down
        List<String> csv = Files.readAllLines(out.resolve("loss.csv"));
        assertEquals(LossCsvWriter.HEADER, csv.get(0));
        double[] losses = csv.stream().skip(1).map(l -> l.split(",", -1)).filter(f -> !f[2].isEmpty())
                .mapToDouble(f -> Double.parseDouble(f[2])).toArray();
        assertEquals(30, losses.length);
        double firstThree = (losses[0] + losses[1] + losses[2]) / 3;
        double lastFive = (losses[25] + losses[26] + losses[27] + losses[28] + losses[29]) / 5;
        assertTrue(lastFive < firstThree - 1.0, "loss fell from " + firstThree + " to " + lastFive);
        long evalRows = csv.stream().skip(1).filter(l -> l.contains(",,,,,,")).count();
        assertEquals(3, evalRows, "evaluations at steps 10, 20 and 30");

        assertTrue(Files.readString(out.resolve("samples.txt")).lines().count() >= 1);
    }

    @Test
    void settingsNameTheOptionTheyReject() {
        Peft4jCliTest.Run r = Peft4jCliTest.run("pretrain", "--dropout", "1.0", "--out", out.toString());
        assertEquals(Peft4jCli.EXIT_USAGE, r.exitCode());
        assertTrue(r.err().contains("--dropout must be in [0, 1)"), r.err());
        Peft4jCliTest.Run fraction = Peft4jCliTest.run("pretrain", "--val-fraction", "0", "--out", out.toString());
        assertEquals(Peft4jCli.EXIT_USAGE, fraction.exitCode());
        assertTrue(fraction.err().contains("--val-fraction"), fraction.err());
        Peft4jCliTest.Run ascii = Peft4jCliTest.run("pretrain", "--ascii-only", "--data", "x.txt", "--out", out.toString());
        assertEquals(Peft4jCli.EXIT_USAGE, ascii.exitCode());
        assertTrue(ascii.err().contains("--ascii-only"), ascii.err());
    }
}
