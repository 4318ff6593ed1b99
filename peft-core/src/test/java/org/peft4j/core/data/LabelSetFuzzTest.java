package org.peft4j.core.data;

import com.code_intelligence.jazzer.junit.FuzzTest;
import java.nio.file.Path;
import org.junit.jupiter.api.Tag;
import org.peft4j.core.fuzz.FuzzFiles;

/** Fuzzes {@code labels.json} (saved beside a classifier): only an IllegalArgumentException may reject an input. */
class LabelSetFuzzTest {
    static void load(byte[] data) {
        Path file = FuzzFiles.write(LabelSet.FILE_NAME, data);
        FuzzFiles.expectOnly(() -> LabelSet.load(file), IllegalArgumentException.class);
    }

    @FuzzTest(maxExecutions = 4000)
    void labels(byte[] data) {
        load(data);
    }

    @Tag("jazzer-long")
    @FuzzTest(maxExecutions = 100_000, maxDuration = "60m")
    void labelsLong(byte[] data) {
        load(data);
    }
}
