package org.peft4j.examples.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The benchmark commands run and report every setup (their timings are never asserted). */
class BenchCommandTest {
    @Test
    void engineReportsEverySetupWithConsistentParamCounts() throws Exception {
        Object[] r = InfoAndLogitsCommandTest.run("bench", "engine", "--vocab", "32", "--hidden", "16", "--layers", "2", "--heads", "2",
                "--seq-len", "8", "--batch-size", "2", "--warmup", "0", "--steps", "1", "--rounds", "1");
        assertEquals(0, r[0], (String) r[2]);
        List<String> json = ((String) r[1]).lines().filter(l -> l.startsWith("{")).toList();
        assertEquals(3, json.size(), (String) r[1]);
        ObjectMapper mapper = new ObjectMapper();
        JsonNode full = mapper.readTree(json.get(0));
        JsonNode lastBlock = mapper.readTree(json.get(1));
        JsonNode lora = mapper.readTree(json.get(2));
        assertEquals("full", full.get("setup").asText());
        assertEquals(full.get("params").asLong(), full.get("trainable_params").asLong());
        assertTrue(lastBlock.get("trainable_params").asLong() < full.get("trainable_params").asLong());
        // LoRA r 8 on c_attn [16 → 48] in 2 layers: A [8, 16] + B [48, 8] per layer
        assertEquals(2 * (8 * 16 + 48 * 8), lora.get("trainable_params").asLong());
        assertEquals(full.get("params").asLong() + lora.get("trainable_params").asLong(), lora.get("params").asLong());
        assertTrue(lora.get("nd4j_bytes").asLong() < full.get("nd4j_bytes").asLong(), "no gradients or Adam state for the frozen base");
    }

    @Test
    void compareRejectsUnknownSetupsAndModels() {
        Object[] r = InfoAndLogitsCommandTest.run("bench", "compare", "--setups", "full,magic");
        assertEquals(Peft4jCli.EXIT_USAGE, r[0]);
        assertTrue(((String) r[2]).contains("unknown setup 'magic'"), (String) r[2]);
    }
}
