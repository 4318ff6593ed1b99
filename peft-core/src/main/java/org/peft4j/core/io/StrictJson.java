package org.peft4j.core.io;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectReader;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.MissingNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.BiFunction;

/**
 * Parses the JSON files peft4j reads from strangers (config.json, indexes, headers, labels, adapter
 * configs): UTF-8 only, no duplicate keys, nothing after the value. The bytes are decoded as UTF-8 before
 * Jackson sees them, because Jackson's own encoding detection takes some bad inputs for UTF-32 and then
 * fails with an exception outside its JSON error type (found by fuzzing).
 */
public final class StrictJson {
    /** Immutable and thread-safe. */
    private static final ObjectReader READER = JsonMapper.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build()
            .reader();

    private StrictJson() {
    }

    /**
     * The JSON value in {@code text}; if it is not valid JSON, throws what {@code invalid} makes of a problem
     * description ("not valid JSON: ...") and its cause. Empty text gives a missing node, which callers
     * reject as "not a JSON object" with the rest of their checks.
     */
    public static JsonNode parse(String text, BiFunction<String, Exception, ? extends RuntimeException> invalid) {
        try {
            JsonNode node = READER.readTree(text);
            return node == null ? MissingNode.getInstance() : node;
        } catch (JsonProcessingException e) {
            throw invalid.apply("not valid JSON: " + e.getOriginalMessage(), e);
        }
    }

    /** Like {@link #parse(String, BiFunction)} for UTF-8 bytes; bytes that are not UTF-8 are a problem too. */
    public static JsonNode parse(byte[] utf8, BiFunction<String, Exception, ? extends RuntimeException> invalid) {
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(utf8))
                    .toString();
        } catch (CharacterCodingException e) {
            throw invalid.apply("not valid UTF-8 text", e);
        }
        return parse(text, invalid);
    }

    /** Reads {@code file} and parses it as {@link #parse(byte[], BiFunction)} does; IOException if it cannot be read. */
    public static JsonNode read(Path file, BiFunction<String, Exception, ? extends RuntimeException> invalid) throws IOException {
        return parse(Files.readAllBytes(file), invalid);
    }
}
