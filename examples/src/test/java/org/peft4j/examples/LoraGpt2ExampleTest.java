package org.peft4j.examples;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The LoRA example runs end to end in a few steps, saves an HF PEFT adapter and reloads it exactly. */
class LoraGpt2ExampleTest {
    @Test
    void trainsSavesAndReloads(@TempDir Path out) throws Exception {
        PrintStream stdout = System.out;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        System.setOut(new PrintStream(captured, true, StandardCharsets.UTF_8));
        try {
            LoraGpt2Example.main(new String[] {out.toString(), "4"});
        } finally {
            System.setOut(stdout);
        }
        String text = captured.toString(StandardCharsets.UTF_8);
        assertTrue(Files.isRegularFile(out.resolve("adapter_config.json")) && Files.isRegularFile(out.resolve("adapter_model.safetensors")));
        assertTrue(text.contains("trainable params: 45,056 || all params: 887,552 || trainable%: 5.0764"), text);
        assertTrue(text.contains("max |logit difference| = 0.00e+00"), text);
    }
}
