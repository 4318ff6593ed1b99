package org.peft4j.core.io;

import java.io.BufferedOutputStream;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Objects;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Writes files so that readers see either the old content or the complete new content, never a partial file:
 * the bytes go to a temporary file in the target's directory, are forced to disk, and the temporary file is then
 * renamed over the target in one atomic step.
 */
public final class AtomicFiles {
    private static final int BUFFER_BYTES = 1 << 16;
    private static final int TEMP_NAME_ATTEMPTS = 10;

    private AtomicFiles() {
    }

    /** A consumer that may throw {@link IOException}, such as the code that writes a file's bytes. */
    @FunctionalInterface
    public interface IoConsumer<T> {
        /** Consumes {@code t}. */
        void accept(T t) throws IOException;
    }

    /**
     * Replaces {@code target} atomically with the bytes that {@code writer} writes to the given stream, creating
     * missing parent directories; if anything fails, the target is left untouched, the temporary file is deleted
     * and the failure is rethrown.
     */
    public static void write(Path target, IoConsumer<OutputStream> writer) throws IOException {
        Objects.requireNonNull(target, "target");
        Objects.requireNonNull(writer, "writer");
        Path absolute = target.toAbsolutePath();
        Path fileName = absolute.getFileName();
        if (fileName == null) {
            throw new IllegalArgumentException("cannot write to " + target + ": it names no file");
        }
        Path directory = absolute.getParent();
        Files.createDirectories(directory);
        Path temp = createTempFile(directory, fileName.toString());
        try {
            try (FileChannel channel = FileChannel.open(temp, StandardOpenOption.WRITE)) {
                OutputStream out = new BufferedOutputStream(new UnclosableStream(Channels.newOutputStream(channel)), BUFFER_BYTES);
                writer.accept(out);
                out.flush();
                channel.force(true);
            }
            Files.move(temp, absolute, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (Throwable failure) {
            try {
                Files.deleteIfExists(temp);
            } catch (IOException deleteFailure) {
                failure.addSuppressed(deleteFailure);
            }
            throw failure;
        }
        forceDirectory(directory);
    }

    /** Replaces {@code target} atomically with {@code text} encoded as UTF-8. */
    public static void writeString(Path target, String text) throws IOException {
        Objects.requireNonNull(text, "text");
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        write(target, out -> out.write(bytes));
    }

    /** Creates an empty file named {@code .<name>.tmp<random>} in {@code directory}, with the default permissions. */
    private static Path createTempFile(Path directory, String name) throws IOException {
        for (int attempt = 1; ; attempt++) {
            String suffix = Long.toUnsignedString(ThreadLocalRandom.current().nextLong(), 36);
            try {
                return Files.createFile(directory.resolve("." + name + ".tmp" + suffix));
            } catch (FileAlreadyExistsException e) {
                if (attempt == TEMP_NAME_ATTEMPTS) {
                    throw e;
                }
            }
        }
    }

    /**
     * Forces the directory entry of the renamed file to disk where the platform allows it. Directories cannot be
     * opened as channels on some platforms (Windows); there the rename is already durable or cannot be made so,
     * and the write has succeeded either way, so that failure is not reported.
     */
    private static void forceDirectory(Path directory) {
        try (FileChannel channel = FileChannel.open(directory, StandardOpenOption.READ)) {
            channel.force(true);
        } catch (IOException unsupported) {
            // best effort only, see the method comment
        }
    }

    /**
     * Passes writes through but ignores {@code close()}, so a writer that closes its stream cannot close the
     * channel before the data is forced to disk.
     */
    private static final class UnclosableStream extends FilterOutputStream {
        UnclosableStream(OutputStream out) {
            super(out);
        }

        @Override
        public void write(byte[] bytes, int offset, int length) throws IOException {
            out.write(bytes, offset, length);
        }

        @Override
        public void close() throws IOException {
            flush();
        }
    }
}
