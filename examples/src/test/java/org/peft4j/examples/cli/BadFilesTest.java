package org.peft4j.examples.cli;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.peft4j.core.kernel.KernelChoice;
import org.peft4j.core.model.HfCheckpoint;
import org.peft4j.core.model.gpt2.Gpt2Config;
import org.peft4j.core.model.gpt2.Gpt2Model;
import org.peft4j.core.tuner.PeftModel;
import org.peft4j.core.tuner.TaskType;
import org.peft4j.lora.LoraConfig;

/**
 * Every CLI command that reads a model, given a bad one (missing, not a model, broken config.json, a config
 * that does not fit its weights, truncated or hostile weights), exits non-zero with one line on stderr that
 * names the file or directory and the problem, without a stack trace, and writes nothing.
 */
class BadFilesTest {
    @TempDir
    static Path dir;

    /** Name → model directory (or path) that must be rejected. */
    private static final Map<String, Path> BAD_MODELS = new LinkedHashMap<>();
    /** Name → adapter directory that must be rejected with the good model. */
    private static final Map<String, Path> BAD_ADAPTERS = new LinkedHashMap<>();
    private static Path goodModel;

    @BeforeAll
    static void writeBadModels() throws IOException {
        Gpt2Config config = Gpt2Config.builder().vocabSize(11).nPositions(8).nEmbd(8).nLayer(1).nHead(2).build();
        Path good = dir.resolve("good");
        Gpt2Model gpt2 = Gpt2Model.random(config, 3, DataType.FLOAT, KernelChoice.AUTO);
        HfCheckpoint.save(gpt2, good);
        goodModel = good;
        writeBadAdapters(gpt2);
        byte[] weights = Files.readAllBytes(good.resolve("model.safetensors"));
        byte[] configJson = Files.readAllBytes(good.resolve("config.json"));

        BAD_MODELS.put("missing", dir.resolve("no-such-model"));
        Path notModel = Files.createDirectories(dir.resolve("not-a-model"));
        Files.writeString(notModel.resolve("README.md"), "just text\n");
        BAD_MODELS.put("not a model", notModel);
        BAD_MODELS.put("broken config.json", model("broken-config", "{\"model_type\": \"gpt2\", ".getBytes(StandardCharsets.UTF_8), weights));
        BAD_MODELS.put("config not UTF-8", model("utf32-config", new byte[] {0, 0, 0, '{', 0, 0, 0, '}'}, weights));
        String huge = new String(configJson, StandardCharsets.UTF_8).replace("\"n_embd\" : 8,", "\"n_embd\" : 1073741824,");
        if (huge.equals(new String(configJson, StandardCharsets.UTF_8))) {
            throw new IllegalStateException("the tiny config changed its format: " + huge);
        }
        BAD_MODELS.put("config does not fit the weights", model("huge-config", huge.getBytes(StandardCharsets.UTF_8), weights));
        BAD_MODELS.put("truncated weights", model("truncated", configJson, java.util.Arrays.copyOf(weights, weights.length / 2)));
        byte[] hostile = weights.clone();
        ByteBuffer.wrap(hostile).order(ByteOrder.LITTLE_ENDIAN).putLong(0, 1L << 62);
        BAD_MODELS.put("hostile header length", model("hostile", configJson, hostile));
        byte[] garbage = new byte[64];
        new java.util.Random(5).nextBytes(garbage);
        BAD_MODELS.put("random bytes as weights", model("garbage", configJson, garbage));
    }

    private static void writeBadAdapters(Gpt2Model base) throws IOException {
        Path adapter = dir.resolve("good-adapter");
        try (PeftModel<Gpt2Model> peft = PeftModel.builder(base).adapter("default", LoraConfig.builder().r(2).taskType(TaskType.CAUSAL_LM)
                .targetModules("c_attn").build()).build()) {
            peft.save(adapter);
        }
        String config = Files.readString(adapter.resolve("adapter_config.json"));
        byte[] weights = Files.readAllBytes(adapter.resolve("adapter_model.safetensors"));
        BAD_ADAPTERS.put("missing", dir.resolve("no-such-adapter"));
        BAD_ADAPTERS.put("broken adapter_config.json", adapter("broken-adapter-config", "{\"peft_type\": ", weights));
        BAD_ADAPTERS.put("unknown peft_type", adapter("unknown-type", config.replace("\"LORA\"", "\"NO_SUCH_METHOD\""), weights));
        BAD_ADAPTERS.put("rank does not fit the weights", adapter("wrong-rank", config.replaceFirst("\"r\" ?: ?2", "\"r\": 3"), weights));
        BAD_ADAPTERS.put("truncated adapter weights", adapter("truncated-adapter", config, java.util.Arrays.copyOf(weights, weights.length - 7)));
    }

    private static Path adapter(String name, String config, byte[] weights) throws IOException {
        Path d = Files.createDirectories(dir.resolve(name));
        Files.writeString(d.resolve("adapter_config.json"), config);
        Files.write(d.resolve("adapter_model.safetensors"), weights);
        return d;
    }

    private static Path model(String name, byte[] config, byte[] weights) throws IOException {
        Path d = Files.createDirectories(dir.resolve(name));
        Files.write(d.resolve("config.json"), config);
        Files.write(d.resolve("model.safetensors"), weights);
        return d;
    }

    /** The command lines that read {@code model}; {@code out} must stay absent. */
    private static List<String[]> commands(Path model, Path out) throws IOException {
        Path data = Files.writeString(dir.resolve("data.jsonl"), "{\"text\": \"a b\", \"label\": 1}\n");
        String m = model.toString();
        List<String[]> all = new ArrayList<>();
        all.add(new String[] {"info", "--model", m});
        all.add(new String[] {"logits", "--model", m, "--ids", "1,2"});
        all.add(new String[] {"eval", "--model", m, "--task", "causal-lm", "--data", data.toString()});
        all.add(new String[] {"generate", "--model", m, "--prompt", "a"});
        all.add(new String[] {"train", "--model", m, "--task", "causal-lm", "--train", data.toString(), "--out", out.toString()});
        return all;
    }

    @Test
    void everyCommandRejectsEveryBadModelInOneLine() throws IOException {
        for (Map.Entry<String, Path> bad : BAD_MODELS.entrySet()) {
            Path out = dir.resolve("out-" + bad.getValue().getFileName());
            assertRejected(bad.getKey(), bad.getValue(), out, commands(bad.getValue(), out));
        }
    }

    @Test
    void everyCommandRejectsEveryBadAdapterInOneLine() throws IOException {
        Path data = Files.writeString(dir.resolve("adapter-data.jsonl"), "{\"text\": \"a b\"}\n");
        for (Map.Entry<String, Path> bad : BAD_ADAPTERS.entrySet()) {
            Path out = dir.resolve("out-" + bad.getValue().getFileName());
            String m = goodModel.toString();
            String a = bad.getValue().toString();
            assertRejected(bad.getKey(), bad.getValue(), out, List.of(
                    new String[] {"logits", "--model", m, "--adapter", a, "--ids", "1,2"},
                    new String[] {"eval", "--model", m, "--adapter", a, "--task", "causal-lm", "--data", data.toString()},
                    new String[] {"merge", "--model", m, "--adapter", a, "--out", out.toString()}));
        }
    }

    private static void assertRejected(String name, Path bad, Path out, List<String[]> commands) {
        for (String[] args : commands) {
            String what = name + ", peft4j " + String.join(" ", args);
            Peft4jCliTest.Run run = Peft4jCliTest.run(args);
            assertNotEquals(0, run.exitCode(), what + ": " + run.err());
            List<String> lines = run.errLines().stream().filter(l -> !l.isBlank()).toList();
            assertTrue(lines.size() == 1, what + ": expected one line on stderr, got:\n" + run.err());
            String line = lines.get(0);
            System.out.println(name + " | " + args[0] + " | " + line);
            assertTrue(line.contains(bad.toString()), what + ": the line names the file or directory: " + line);
            assertFalse(line.contains("Exception:") || run.err().contains("\tat "), what + ": no stack trace or exception class: " + line);
            assertFalse(Files.exists(out), what + ": nothing written to " + out);
        }
    }
}
