package org.peft4j.examples.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.io.SafetensorsWeights;
import org.peft4j.core.io.SafetensorsWriter;

/**
 * The one-call backend check of scripts/gpu-check.sh, run here as the GPU would run it: the reference from
 * the fast CPU kernels, then the portable ND4J-op kernels (the CUDA backend's path) compared with it.
 */
class DeviceCheckCommandTest {
    @Test
    void portableKernelsReproduceTheCpuReferenceAndACorruptedReferenceFails(@TempDir Path dir) throws Exception {
        Path reference = dir.resolve("cpu.safetensors");
        Object[] saved = InfoAndLogitsCommandTest.run("bench", "device-check", "--save", reference.toString(), "--kernels", "cpu", "--timings", "none");
        assertEquals(0, saved[0], (String) saved[2]);

        Object[] compared = InfoAndLogitsCommandTest.run("bench", "device-check", "--compare", reference.toString(), "--kernels", "portable",
                "--timings", "none");
        String table = (String) compared[1];
        assertEquals(0, compared[0], table + compared[2]);
        List<String> rows = table.lines().filter(l -> l.startsWith("| ") && !l.startsWith("| check")).toList();
        assertEquals(7, rows.size(), table);
        assertTrue(rows.stream().allMatch(l -> l.endsWith("| ok |")), table);
        assertTrue(table.contains("kernels nd4j"), table);

        // one output off by 0.1 % of its largest value: the comparison must catch it and exit 1
        Map<String, INDArray> tensors = new LinkedHashMap<>();
        try (SafetensorsWeights w = SafetensorsWeights.openFile(reference)) {
            for (String name : w.names()) {
                tensors.put(name, w.read(name));
            }
        }
        INDArray hidden = tensors.get("minilm_nf4.hidden");
        hidden.putScalar(5, hidden.getDouble(5) + 1e-3 * hidden.amaxNumber().doubleValue());
        Path corrupted = dir.resolve("corrupted.safetensors");
        SafetensorsWriter.write(corrupted, tensors);
        Object[] failed = InfoAndLogitsCommandTest.run("bench", "device-check", "--compare", corrupted.toString(), "--timings", "none");
        assertEquals(Peft4jCli.EXIT_FAILURE, failed[0], (String) failed[1]);
        String failedRow = ((String) failed[1]).lines().filter(l -> l.contains("FAIL")).findFirst().orElse("");
        assertTrue(failedRow.startsWith("| minilm_nf4.hidden = reference"), (String) failed[1]);
        assertTrue(((String) failed[1]).contains("\"failed\":1"), (String) failed[1]);
    }

    @Test
    void badOptionsAreUsageErrors(@TempDir Path dir) {
        Object[] missing = InfoAndLogitsCommandTest.run("bench", "device-check", "--compare", dir.resolve("none.safetensors").toString());
        assertEquals(Peft4jCli.EXIT_USAGE, missing[0]);
        assertTrue(((String) missing[2]).contains("--compare: no such file"), (String) missing[2]);
        Object[] timing = InfoAndLogitsCommandTest.run("bench", "device-check", "--timings", "gpt");
        assertEquals(Peft4jCli.EXIT_USAGE, timing[0]);
        assertTrue(((String) timing[2]).contains("unknown timing 'gpt'; allowed: minilm, llama, none"), (String) timing[2]);
    }
}
