package org.peft4j.examples.bench;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import jdk.jfr.Recording;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordedFrame;
import jdk.jfr.consumer.RecordedStackTrace;
import jdk.jfr.consumer.RecordingFile;

/**
 * Where the time of training steps goes, from the JDK's flight recorder: execution samples (threads in
 * Java code) and native-method samples (threads inside ND4J's native code), each put in one bucket by
 * its stack. Buckets: GEMM (matrix products through {@code Gemm}), the optimizer, peft4j's CPU kernels,
 * other ND4J ops, other Java code. Sampling is statistical: the shares are estimates, good to a few
 * percent with thousands of samples.
 */
public final class StepProfile {
    /** Bucket names in the order they are printed. */
    static final List<String> BUCKETS = List.of("GEMM (ND4J → OpenBLAS)", "optimizer (ND4J updaters)", "CPU kernels (Java)",
            "other ND4J ops", "other Java (tape, copies, data)");

    private StepProfile() {
    }

    /** Profiles {@code timed} steps of the timer's workload (after {@code untimed}) and returns samples per bucket. */
    public static Map<String, Integer> profile(StepTimer timer, int untimed, int timed) {
        timer.steps(untimed, 0);
        Path file;
        try {
            file = Files.createTempFile("peft4j-profile", ".jfr");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create a file for the flight recording", e);
        }
        try (Recording recording = new Recording()) {
            recording.enable("jdk.ExecutionSample").withPeriod(Duration.ofMillis(5));
            recording.enable("jdk.NativeMethodSample").withPeriod(Duration.ofMillis(5));
            recording.start();
            timer.steps(0, timed);
            recording.stop();
            recording.dump(file);
            return buckets(file);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the flight recording " + file, e);
        } finally {
            try {
                Files.deleteIfExists(file);
            } catch (IOException ignored) {
                // a temporary file; the OS cleans up
            }
        }
    }

    private static Map<String, Integer> buckets(Path file) throws IOException {
        Map<String, Integer> counts = new LinkedHashMap<>();
        BUCKETS.forEach(b -> counts.put(b, 0));
        for (RecordedEvent event : RecordingFile.readAllEvents(file)) {
            RecordedStackTrace stack = event.getStackTrace();
            if (stack == null || !onBenchmarkThread(stack)) {
                continue;
            }
            boolean nativeSample = event.getEventType().getName().equals("jdk.NativeMethodSample");
            counts.merge(bucket(stack, nativeSample), 1, Integer::sum);
        }
        return counts;
    }

    /** Only samples of the thread that runs the steps (its stack passes through the timer). */
    private static boolean onBenchmarkThread(RecordedStackTrace stack) {
        return stack.getFrames().stream().anyMatch(f -> f.getMethod().getType().getName().equals(StepTimer.class.getName()));
    }

    private static String bucket(RecordedStackTrace stack, boolean nativeSample) {
        boolean gemm = false;
        boolean optimizer = false;
        for (RecordedFrame f : stack.getFrames()) {
            String type = f.getMethod().getType().getName();
            gemm |= type.equals("org.peft4j.core.kernel.Gemm");
            optimizer |= type.equals("org.peft4j.core.train.Optimizer");
        }
        if (gemm) {
            return BUCKETS.get(0);
        }
        if (optimizer) {
            return BUCKETS.get(1);
        }
        String top = stack.getFrames().isEmpty() ? "" : stack.getFrames().get(0).getMethod().getType().getName();
        if (!nativeSample && (top.startsWith("org.peft4j.core.kernel.") || stackHas(stack, "org.peft4j.core.kernel.CpuKernels"))) {
            return BUCKETS.get(2);
        }
        return nativeSample ? BUCKETS.get(3) : BUCKETS.get(4);
    }

    private static boolean stackHas(RecordedStackTrace stack, String type) {
        return stack.getFrames().stream().anyMatch(f -> f.getMethod().getType().getName().equals(type));
    }

    /** A Markdown table of the shares. */
    public static String table(Map<String, Integer> counts) {
        int total = counts.values().stream().mapToInt(Integer::intValue).sum();
        StringBuilder sb = new StringBuilder("| where | samples | share |\n|---|---:|---:|\n");
        counts.forEach((bucket, n) -> sb.append(String.format(Locale.ROOT, "| %s | %d | %.1f %% |%n", bucket, n, total == 0 ? 0 : 100.0 * n / total)));
        return sb.toString();
    }
}
