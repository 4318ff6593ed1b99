package org.peft4j.core.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AtomicFilesTest {
    @TempDir
    Path dir;

    @Test
    void writesAndReplacesTheTarget() throws IOException {
        Path target = dir.resolve("a.txt");
        AtomicFiles.writeString(target, "first");
        AtomicFiles.writeString(target, "second ✓");
        assertEquals("second ✓", Files.readString(target, StandardCharsets.UTF_8));
        assertEquals(List.of("a.txt"), fileNames(dir));
    }

    @Test
    void createsMissingParentDirectories() throws IOException {
        Path target = dir.resolve("x/y/z/data.bin");
        AtomicFiles.write(target, out -> out.write(new byte[] {1, 2, 3}));
        assertArrayEquals(new byte[] {1, 2, 3}, Files.readAllBytes(target));
    }

    @Test
    void writerThatClosesItsStreamStillSucceeds() throws IOException {
        Path target = dir.resolve("closed.bin");
        AtomicFiles.write(target, out -> {
            out.write(new byte[] {4, 5});
            out.close();
        });
        assertArrayEquals(new byte[] {4, 5}, Files.readAllBytes(target));
    }

    @Test
    void ioFailureMidwayLeavesTheTargetUntouched() throws IOException {
        Path target = dir.resolve("model.safetensors");
        AtomicFiles.writeString(target, "old content");
        IOException failure = new IOException("disk full (simulated)");
        IOException thrown = assertThrows(IOException.class, () -> AtomicFiles.write(target, out -> {
            out.write(new byte[200_000]);                     // more than the stream buffers, so bytes reach the temp file
            throw failure;
        }));
        assertSame(failure, thrown);
        assertEquals("old content", Files.readString(target));
        assertEquals(List.of("model.safetensors"), fileNames(dir));
    }

    @Test
    void runtimeFailureMidwayLeavesTheTargetUntouched() throws IOException {
        Path target = dir.resolve("model.safetensors");
        AtomicFiles.writeString(target, "old content");
        IllegalStateException failure = new IllegalStateException("bug in the writer (simulated)");
        IllegalStateException thrown = assertThrows(IllegalStateException.class, () -> AtomicFiles.write(target, out -> {
            out.write("partial".getBytes(StandardCharsets.UTF_8));
            throw failure;
        }));
        assertSame(failure, thrown);
        assertEquals("old content", Files.readString(target));
        assertEquals(List.of("model.safetensors"), fileNames(dir));
    }

    @Test
    void failedWriteOfANewFileLeavesNothingBehind() throws IOException {
        Path target = dir.resolve("sub/new.bin");
        assertThrows(IOException.class, () -> AtomicFiles.write(target, out -> {
            out.write(1);
            throw new IOException("simulated");
        }));
        assertEquals(List.of(), fileNames(dir.resolve("sub")));
    }

    @Test
    void failedRenameDeletesTheTempFile() throws IOException {
        Path target = dir.resolve("occupied");
        Files.createDirectories(target.resolve("child"));   // a non-empty directory cannot be replaced by a file
        assertThrows(IOException.class, () -> AtomicFiles.writeString(target, "text"));
        assertEquals(List.of("occupied"), fileNames(dir));
        assertTrue(Files.isDirectory(target.resolve("child")));
    }

    private static List<String> fileNames(Path directory) throws IOException {
        try (Stream<Path> files = Files.list(directory)) {
            return files.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }
}
