package org.peft4j.core.train;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Writes the loss curve as CSV, one row per step and one per evaluation:
 * {@code step,epoch,loss,learning_rate,grad_norm,tokens_per_second,eval_loss}. Rows are flushed as they
 * come, so the file can be watched during training.
 */
public final class LossCsvWriter implements TrainingListener, AutoCloseable {
    public static final String HEADER = "step,epoch,loss,learning_rate,grad_norm,tokens_per_second,eval_loss";
    private final Path path;
    private BufferedWriter out;
    private boolean started;
    private int resumedAt = -1;
    private long lastNanos;

    public LossCsvWriter(Path path) {
        this.path = path;
    }

    @Override
    public void onStart(int totalSteps, String description) {
        close();
        started = true;
        resumedAt = -1;
        lastNanos = 0;
    }

    /** A resumed run keeps the rows of the steps before the checkpoint and appends after them. */
    @Override
    public void onResume(int step, java.nio.file.Path from) {
        resumedAt = step;
    }

    /** Opens the file on the first row: fresh, or with the earlier run's rows up to the resumed step. */
    private void open() throws IOException {
        List<String> kept = new ArrayList<>();
        if (resumedAt >= 0 && Files.isRegularFile(path)) {
            for (String line : Files.readAllLines(path, StandardCharsets.UTF_8)) {
                int comma = line.indexOf(',');
                if (comma > 0 && !line.equals(HEADER) && line.substring(0, comma).chars().allMatch(Character::isDigit)
                        && Integer.parseInt(line.substring(0, comma)) <= resumedAt) {
                    kept.add(line);
                }
            }
        }
        if (path.getParent() != null) {
            Files.createDirectories(path.getParent());
        }
        out = Files.newBufferedWriter(path, StandardCharsets.UTF_8);
        out.write(HEADER);
        out.newLine();
        for (String line : kept) {
            out.write(line);
            out.newLine();
        }
        out.flush();
    }

    @Override
    public void onStep(StepInfo s) {
        double seconds = (s.elapsedNanos() - lastNanos) / 1e9;
        lastNanos = s.elapsedNanos();
        row(String.format(Locale.ROOT, "%d,%d,%.6f,%.6e,%.6f,%.1f,", s.step(), s.epoch(), s.loss(), s.learningRate(), s.gradNorm(),
                seconds > 0 ? s.tokens() / seconds : 0.0));
    }

    @Override
    public void onEval(int step, EvalResult result) {
        row(String.format(Locale.ROOT, "%d,,,,,,%.6f", step, result.loss()));
    }

    @Override
    public void onEnd(TrainResult result) {
        close();
    }

    private void row(String line) {
        if (!started) {
            throw new IllegalStateException("loss CSV " + path + " is not open: onStart was not called");
        }
        try {
            if (out == null) {
                open();
            }
            out.write(line);
            out.newLine();
            out.flush();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the loss curve to " + path, e);
        }
    }

    @Override
    public void close() {
        if (out != null) {
            try {
                out.close();
            } catch (IOException e) {
                throw new UncheckedIOException("cannot close " + path, e);
            } finally {
                out = null;
                started = false;
            }
        }
    }
}
