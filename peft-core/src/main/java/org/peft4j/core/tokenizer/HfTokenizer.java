package org.peft4j.core.tokenizer;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Iterator;
import java.util.Map;
import java.util.Objects;

/**
 * A Hugging Face {@code tokenizer.json} (WordPiece, BPE, Unigram: whatever the Rust tokenizers library
 * reads), through DJL's binding, which carries the native library inside its jar. Texts are encoded with
 * the tokenizer's special tokens (BERT: [CLS] … [SEP]); the padding and truncation settings stored in the
 * file are ignored, and {@link #encode} truncates to the length each call asks for, keeping the trailing
 * special tokens as HF's truncation does.
 *
 * <p>Everything is local: unless the system property {@code ai.djl.offline} is already set, opening the
 * first tokenizer sets it to {@code true}, so DJL neither downloads nor reports usage (its telemetry call
 * home); this affects other DJL code in the same JVM. Close the tokenizer to free its native memory.
 */
public final class HfTokenizer implements Tokenizer, AutoCloseable {
    private static final String OFFLINE_PROPERTY = "ai.djl.offline";

    private final Path file;
    private final HuggingFaceTokenizer tokenizer;
    private final int vocabSize;
    private final int padId;

    private HfTokenizer(Path file, HuggingFaceTokenizer tokenizer, int vocabSize, int padId) {
        this.file = file;
        this.tokenizer = tokenizer;
        this.vocabSize = vocabSize;
        this.padId = padId;
    }

    /**
     * Opens {@code tokenizerJson} (a {@code tokenizer.json} file, or a directory holding one); fails with
     * {@link IOException} if it cannot be read and {@link IllegalArgumentException} if it is not a tokenizer.
     */
    public static HfTokenizer open(Path tokenizerJson) throws IOException {
        Objects.requireNonNull(tokenizerJson, "tokenizer path");
        Path file = Files.isDirectory(tokenizerJson) ? tokenizerJson.resolve("tokenizer.json") : tokenizerJson;
        if (!Files.isRegularFile(file)) {
            throw new java.nio.file.NoSuchFileException(file.toString(), null, "no tokenizer.json there");
        }
        JsonNode json;
        try (InputStream in = Files.newInputStream(file)) {
            json = new ObjectMapper().readTree(in);
        }
        if (json == null || !json.path("model").isObject()) {
            throw new IllegalArgumentException(file + " is not an HF tokenizer.json: it has no \"model\" object");
        }
        if (System.getProperty(OFFLINE_PROPERTY) == null) {
            System.setProperty(OFFLINE_PROPERTY, "true");
        }
        HuggingFaceTokenizer tokenizer;
        try {
            tokenizer = HuggingFaceTokenizer.newInstance(file, Map.of("addSpecialTokens", "true", "padding", "false", "truncation", "false"));
        } catch (RuntimeException e) {
            throw new IllegalArgumentException(file + " could not be loaded by the tokenizers library: " + e.getMessage(), e);
        }
        return new HfTokenizer(file, tokenizer, vocabSize(json), padId(json));
    }

    /** Highest token id + 1, over the model's vocabulary and the added tokens. */
    private static int vocabSize(JsonNode json) {
        int max = -1;
        JsonNode vocab = json.path("model").path("vocab");
        if (vocab.isObject()) {                                   // WordPiece, BPE, WordLevel: token → id
            Iterator<JsonNode> ids = vocab.elements();
            while (ids.hasNext()) {
                max = Math.max(max, ids.next().asInt());
            }
        } else if (vocab.isArray()) {                             // Unigram: [[piece, score], ...] by id
            max = vocab.size() - 1;
        }
        for (JsonNode added : json.path("added_tokens")) {
            max = Math.max(max, added.path("id").asInt(-1));
        }
        if (max < 0) {
            throw new IllegalArgumentException("tokenizer.json has an empty vocabulary");
        }
        return max + 1;
    }

    /** padding.pad_id, else the id of an added [PAD] or &lt;pad&gt; token, else 0. */
    private static int padId(JsonNode json) {
        JsonNode padding = json.path("padding");
        if (padding.isObject() && padding.hasNonNull("pad_id")) {
            return padding.get("pad_id").asInt();
        }
        for (JsonNode added : json.path("added_tokens")) {
            String content = added.path("content").asText();
            if (content.equals("[PAD]") || content.equals("<pad>")) {
                return added.path("id").asInt();
            }
        }
        return 0;
    }

    /** The tokenizer.json this was opened from. */
    public Path path() {
        return file;
    }

    @Override
    public int vocabSize() {
        return vocabSize;
    }

    /**
     * Encodes {@code text} with the special tokens; if that is longer than {@code maxLength}, the text's
     * tokens are cut at the end and the trailing special tokens (BERT's [SEP]) kept.
     */
    @Override
    public Encoding encode(String text, int maxLength) {
        if (text == null) {
            throw new IllegalArgumentException("text to encode must not be null");
        }
        if (maxLength <= 0) {
            throw new IllegalArgumentException("max length must be > 0, got " + maxLength);
        }
        ai.djl.huggingface.tokenizers.Encoding e = tokenizer.encode(text);
        int[] ids = toInts(e.getIds());
        int[] types = toInts(e.getTypeIds());
        int[] mask = toInts(e.getAttentionMask());
        if (ids.length <= maxLength) {
            return new Encoding(ids, types, mask);
        }
        long[] special = e.getSpecialTokenMask();
        int leading = 0;
        while (leading < special.length && special[leading] == 1) {
            leading++;
        }
        int trailing = 0;
        while (trailing < special.length - leading && special[special.length - 1 - trailing] == 1) {
            trailing++;
        }
        if (maxLength < leading + trailing) {
            throw new IllegalArgumentException("max length " + maxLength + " leaves no room for the " + (leading + trailing)
                    + " special tokens this tokenizer adds; it must be at least " + (leading + trailing));
        }
        return new Encoding(cut(ids, maxLength, trailing), cut(types, maxLength, trailing), cut(mask, maxLength, trailing));
    }

    /** The first maxLength − trailing entries followed by the last {@code trailing} ones. */
    private static int[] cut(int[] values, int maxLength, int trailing) {
        int[] out = Arrays.copyOf(values, maxLength);
        System.arraycopy(values, values.length - trailing, out, maxLength - trailing, trailing);
        return out;
    }

    private static int[] toInts(long[] values) {
        int[] out = new int[values.length];
        for (int i = 0; i < values.length; i++) {
            out[i] = Math.toIntExact(values[i]);
        }
        return out;
    }

    /** The text of {@code ids} with special tokens skipped. */
    @Override
    public String decode(int[] ids) {
        if (ids == null) {
            throw new IllegalArgumentException("token ids to decode must not be null");
        }
        long[] longs = new long[ids.length];
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] < 0 || ids[i] >= vocabSize) {
                throw new IllegalArgumentException("token id at position " + i + " is " + ids[i] + "; ids must be in [0, " + (vocabSize - 1) + "]");
            }
            longs[i] = ids[i];
        }
        return tokenizer.decode(longs, true);
    }

    /** The tokenizer's padding id (BERT: [PAD] = 0), or 0 when it defines none (padded positions are masked). */
    @Override
    public int padId() {
        return padId;
    }

    /** Frees the native tokenizer. */
    @Override
    public void close() {
        tokenizer.close();
    }

    @Override
    public String toString() {
        return "HfTokenizer[" + file + ", vocab " + vocabSize + "]";
    }
}
