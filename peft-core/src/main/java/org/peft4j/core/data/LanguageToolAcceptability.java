package org.peft4j.core.data;

import com.fasterxml.jackson.databind.ObjectWriter;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.SplittableRandom;
import java.util.regex.Pattern;
import javax.xml.XMLConstants;
import javax.xml.parsers.ParserConfigurationException;
import javax.xml.parsers.SAXParser;
import javax.xml.parsers.SAXParserFactory;
import org.peft4j.core.io.AtomicFiles;
import org.xml.sax.Attributes;
import org.xml.sax.InputSource;
import org.xml.sax.SAXException;
import org.xml.sax.SAXParseException;
import org.xml.sax.helpers.DefaultHandler;

/**
 * A sentence acceptability task (in the manner of CoLA) built from the example sentences of LanguageTool's English
 * grammar rules, {@value #RESOURCE} in the Maven artifact {@value #ARTIFACT}.
 *
 * <p><b>Labels.</b> In that file an {@code <example>} with a {@code correction} attribute or with
 * {@code type="triggers_error"} (or {@code "incorrect"}) is a sentence the rule flags as wrong: label
 * {@value #UNACCEPTABLE}. A plain {@code <example>} (or {@code type="correct"}) is a sentence the rule must leave
 * alone: label {@value #ACCEPTABLE}. Examples of any other type are dropped. The text of a {@code <marker>} (the
 * error span) and of any other element inside an example is kept, the tags dropped.
 *
 * <p><b>Cleaning</b>, in this order, each counted in {@link Stats}:
 * <ol>
 *   <li>whitespace runs (including no-break spaces) become one space, and the ends are trimmed;</li>
 *   <li>empty examples are dropped;</li>
 *   <li>examples with unresolved placeholders or notes to rule authors are dropped: backslash escapes such as
 *       {@code \n} or {@code \1}, wiki templates {@code {{...}}}, entity references left as text, and notes such as
 *       "Found by RULE_ID";</li>
 *   <li>unacceptable examples whose error is invisible to an uncased model are dropped: those where putting a
 *       suggested correction in place of the marker gives a text that an uncased tokenizer sees as the same (see
 *       below), such as "A ponzi scheme" corrected to "A Ponzi scheme";</li>
 *   <li>exact duplicates are merged; a sentence marked both acceptable and unacceptable is dropped entirely;</li>
 *   <li>sentences that an uncased tokenizer cannot tell apart are merged when their labels agree and all dropped
 *       when they disagree.</li>
 * </ol>
 * The target classifiers (BERT uncased, all-MiniLM-L6-v2) lowercase their input, strip accents and split punctuation
 * off words, so two texts look the same to them when they are equal after lowercasing, removing accents and
 * ignoring whitespace next to punctuation ({@link #uncasedKey}); keeping such texts with different labels would ask
 * the model for the impossible, and keeping them with one label would leak between the splits.
 *
 * <p><b>Splits.</b> {@link #split} is stratified: each label's sentences are shuffled with a seeded generator and cut
 * by the fractions, so every split has both labels in nearly the dataset's proportion, and each split is then
 * shuffled. {@link #writeSplits} writes {@code train.jsonl}, {@code dev.jsonl} and {@code test.jsonl} with lines
 * {@code {"text": ..., "label": "acceptable"|"unacceptable"}} (readable by {@link JsonlDataset}) and a
 * {@code stats.json} recording the source, seed, cleaning counts and split counts; every file is written atomically.
 *
 * <p><b>Parsing</b> is secure: the JDK's own SAX parser with secure processing (entity expansion limits), no external
 * DTD, no external general or parameter entities, no XInclude, and any reference to an external entity refused with an
 * error. The file's DOCTYPE declares internal entities ({@code &nbsp;} appears in examples), which are expanded.
 */
public final class LanguageToolAcceptability {
    /** The rules file read from the class path. */
    public static final String RESOURCE = "org/languagetool/rules/en/grammar.xml";
    /** The Maven coordinates of the jar that holds {@link #RESOURCE}. */
    public static final String ARTIFACT = "org.languagetool:language-en:6.5";
    /** The label of a sentence the rules accept. */
    public static final String ACCEPTABLE = "acceptable";
    /** The label of a sentence a rule flags. */
    public static final String UNACCEPTABLE = "unacceptable";
    /** The split names, in the order of {@link Fractions}. */
    public static final List<String> SPLITS = List.of("train", "dev", "test");

    private static final Pattern WHITESPACE = Pattern.compile("[\\s\\p{Z}\\u200B\\uFEFF]+");
    private static final Pattern PLACEHOLDER = Pattern.compile(
            "\\\\[A-Za-z0-9]"                                       // \n, \t, \1, \uFEFF written out
            + "|\\{\\{|}}"                                          // wiki templates
            + "|&[A-Za-z_#][A-Za-z0-9_.-]*;"                        // entity references left as text
            + "|\\b(?:[Ff]ound|[Cc]aught) by [A-Z][A-Z0-9]*_[A-Z0-9_]+");   // notes naming a rule
    private static final Pattern COMBINING_MARKS = Pattern.compile("\\p{Mn}+");
    private static final ObjectWriter PRETTY = JsonMapper.builder().build().writerWithDefaultPrettyPrinter();

    private LanguageToolAcceptability() {
    }

    /** One sentence and whether the rules accept it. */
    public record Sentence(String text, boolean acceptable) {
        /** Checks that the text is non-blank. */
        public Sentence {
            if (text == null || text.isBlank()) {
                throw new IllegalArgumentException("a sentence needs non-blank text");
            }
        }

        /** {@value #ACCEPTABLE} or {@value #UNACCEPTABLE}. */
        public String label() {
            return acceptable ? ACCEPTABLE : UNACCEPTABLE;
        }
    }

    /**
     * What the extraction found and dropped.
     *
     * @param examples                 {@code <example>} elements read
     * @param markedAcceptable         of those, marked acceptable
     * @param markedUnacceptable       of those, marked unacceptable
     * @param droppedUnknownType       examples of a type other than triggers_error, incorrect or correct
     * @param droppedEmpty             examples with no text
     * @param droppedPlaceholders      examples with unresolved placeholders or notes to rule authors
     * @param droppedInvisibleErrors   unacceptable examples whose correction an uncased tokenizer cannot see
     * @param duplicatesMerged         repeated examples of the same text and label, merged into one
     * @param conflictingTexts         distinct texts marked both acceptable and unacceptable, dropped
     * @param conflictingExamples      the examples those texts had, all dropped
     * @param uncasedDuplicatesMerged  texts that differ only as an uncased tokenizer does not see and share a label, merged
     * @param uncasedConflictsDropped  texts that differ only so but have different labels, all dropped
     * @param acceptable               acceptable sentences kept
     * @param unacceptable             unacceptable sentences kept
     */
    public record Stats(int examples, int markedAcceptable, int markedUnacceptable, int droppedUnknownType, int droppedEmpty,
                        int droppedPlaceholders, int droppedInvisibleErrors, int duplicatesMerged, int conflictingTexts,
                        int conflictingExamples, int uncasedDuplicatesMerged, int uncasedConflictsDropped, int acceptable,
                        int unacceptable) {
        /** Sentences kept. */
        public int kept() {
            return acceptable + unacceptable;
        }

        /** These counts as a JSON object with the component names as keys. */
        public ObjectNode toJson() {
            ObjectNode node = JsonNodeFactory.instance.objectNode();
            node.put("examples", examples);
            node.put("markedAcceptable", markedAcceptable);
            node.put("markedUnacceptable", markedUnacceptable);
            node.put("droppedUnknownType", droppedUnknownType);
            node.put("droppedEmpty", droppedEmpty);
            node.put("droppedPlaceholders", droppedPlaceholders);
            node.put("droppedInvisibleErrors", droppedInvisibleErrors);
            node.put("duplicatesMerged", duplicatesMerged);
            node.put("conflictingTexts", conflictingTexts);
            node.put("conflictingExamples", conflictingExamples);
            node.put("uncasedDuplicatesMerged", uncasedDuplicatesMerged);
            node.put("uncasedConflictsDropped", uncasedConflictsDropped);
            node.put("acceptable", acceptable);
            node.put("unacceptable", unacceptable);
            return node;
        }
    }

    /** The cleaned sentences in file order (first occurrence) and what cleaning did. */
    public record Extraction(List<Sentence> sentences, Stats stats) {
        /** Copies the list. */
        public Extraction {
            sentences = List.copyOf(Objects.requireNonNull(sentences, "sentences"));
            Objects.requireNonNull(stats, "stats");
        }
    }

    /**
     * The shares of the train, dev and test splits; each in [0, 1], summing to 1 (within 1e-9).
     *
     * @param train share of the training split
     * @param dev   share of the development split
     * @param test  share of the test split
     */
    public record Fractions(double train, double dev, double test) {
        /** Checks the ranges and the sum. */
        public Fractions {
            for (double f : new double[] {train, dev, test}) {
                if (!(f >= 0 && f <= 1)) {
                    throw new IllegalArgumentException("split fractions must each be in [0, 1], got train=" + train + ", dev=" + dev
                            + ", test=" + test);
                }
            }
            if (Math.abs(train + dev + test - 1) > 1e-9) {
                throw new IllegalArgumentException("split fractions must sum to 1, got train=" + train + " + dev=" + dev + " + test=" + test
                        + " = " + (train + dev + test));
            }
        }

        /** 80% train, 10% dev, 10% test. */
        public static Fractions standard() {
            return new Fractions(0.8, 0.1, 0.1);
        }
    }

    /**
     * What {@link #writeSplits} wrote.
     *
     * @param counts per split name, the number of sentences per label
     * @param files  per split name, the JSONL file; and "stats" for stats.json
     * @param stats  what cleaning did
     */
    public record SplitReport(Map<String, Map<String, Integer>> counts, Map<String, Path> files, Stats stats) {
        /** Copies the maps. */
        public SplitReport {
            Map<String, Map<String, Integer>> copy = new LinkedHashMap<>();
            counts.forEach((split, perLabel) -> copy.put(split, Collections.unmodifiableMap(new LinkedHashMap<>(perLabel))));
            counts = Collections.unmodifiableMap(copy);
            files = Collections.unmodifiableMap(new LinkedHashMap<>(files));
        }

        /** Sentences in split {@code split}. */
        public int size(String split) {
            Map<String, Integer> perLabel = counts.get(split);
            if (perLabel == null) {
                throw new IllegalArgumentException("no split '" + split + "'; splits: " + counts.keySet());
            }
            return perLabel.values().stream().mapToInt(Integer::intValue).sum();
        }
    }

    /**
     * Reads and cleans {@value #RESOURCE} from the class path (the thread's context class loader, or this class's);
     * fails naming {@value #ARTIFACT} when the resource is not there.
     */
    public static Extraction load() {
        ClassLoader context = Thread.currentThread().getContextClassLoader();
        return load(context != null ? context : LanguageToolAcceptability.class.getClassLoader());
    }

    /** Reads and cleans {@value #RESOURCE} as {@code loader} finds it. */
    public static Extraction load(ClassLoader loader) {
        InputStream in = loader.getResourceAsStream(RESOURCE);
        if (in == null) {
            throw new IllegalStateException("LanguageTool's English grammar rules (" + RESOURCE + ") are not on the class path; add the"
                    + " Maven artifact " + ARTIFACT + " (only this resource is read, so its dependencies can be excluded)");
        }
        try (in) {
            return parse(in, "classpath:" + RESOURCE);
        } catch (IOException e) {
            throw new UncheckedIOException("could not read " + RESOURCE + " from " + ARTIFACT, e);
        }
    }

    /**
     * Parses a LanguageTool rules file from {@code xml} and cleans its examples (see the class comment); {@code name}
     * names the source in errors. Malformed XML, a reference to an external entity and an entity expansion beyond the
     * JDK's secure-processing limits are errors.
     */
    public static Extraction parse(InputStream xml, String name) throws IOException {
        Objects.requireNonNull(xml, "xml");
        Objects.requireNonNull(name, "name");
        ExampleHandler handler = new ExampleHandler();
        InputSource source = new InputSource(xml);
        source.setSystemId(name);
        try {
            secureParser().parse(source, handler);
        } catch (SAXParseException e) {
            throw new IllegalArgumentException(name + ":" + e.getLineNumber() + ":" + e.getColumnNumber() + ": " + e.getMessage(), e);
        } catch (SAXException e) {
            throw new IllegalArgumentException(name + ": " + e.getMessage(), e);
        }
        return clean(handler.examples, handler.unknownType);
    }

    /**
     * Loads the dataset from the class path, splits it ({@link #split}) and writes the splits and stats.json into
     * {@code directory}, atomically file by file.
     */
    public static SplitReport writeSplits(Path directory, Fractions fractions, long seed) throws IOException {
        return writeSplits(load(), directory, fractions, seed);
    }

    /** Splits {@code extraction} and writes {@code train.jsonl}, {@code dev.jsonl}, {@code test.jsonl} and {@code stats.json} into {@code directory}. */
    public static SplitReport writeSplits(Extraction extraction, Path directory, Fractions fractions, long seed) throws IOException {
        Objects.requireNonNull(directory, "directory");
        Map<String, List<Sentence>> splits = split(extraction.sentences(), fractions, seed);
        Map<String, Map<String, Integer>> counts = new LinkedHashMap<>();
        Map<String, Path> files = new LinkedHashMap<>();
        for (Map.Entry<String, List<Sentence>> split : splits.entrySet()) {
            Path file = directory.resolve(split.getKey() + ".jsonl");
            List<Sentence> sentences = split.getValue();
            AtomicFiles.write(file, out -> {
                for (Sentence sentence : sentences) {
                    JsonlDataset.writeLine(out, sentence.text(), sentence.label());
                }
            });
            files.put(split.getKey(), file);
            counts.put(split.getKey(), countLabels(sentences));
        }
        ObjectNode stats = JsonNodeFactory.instance.objectNode();
        stats.put("source", ARTIFACT + "!/" + RESOURCE);
        stats.put("seed", seed);
        ObjectNode shares = stats.putObject("fractions");
        shares.put("train", fractions.train());
        shares.put("dev", fractions.dev());
        shares.put("test", fractions.test());
        stats.set("cleaning", extraction.stats().toJson());
        ObjectNode countNode = stats.putObject("counts");
        counts.forEach((split, perLabel) -> {
            ObjectNode node = countNode.putObject(split);
            perLabel.forEach(node::put);
        });
        Path statsFile = directory.resolve("stats.json");
        byte[] json = PRETTY.writeValueAsBytes(stats);
        AtomicFiles.write(statsFile, out -> {
            out.write(json);
            out.write('\n');
        });
        files.put("stats", statsFile);
        return new SplitReport(counts, files, extraction.stats());
    }

    /**
     * Splits {@code sentences} into train, dev and test, stratified by label: each label's sentences are shuffled with
     * a generator seeded by {@code seed} and cut into {@code round(n·train)}, {@code round(n·dev)} and the rest; each
     * split is then shuffled. The same input and seed give the same splits.
     */
    public static Map<String, List<Sentence>> split(List<Sentence> sentences, Fractions fractions, long seed) {
        Objects.requireNonNull(sentences, "sentences");
        Objects.requireNonNull(fractions, "fractions");
        SplittableRandom random = new SplittableRandom(seed);
        List<List<Sentence>> parts = List.of(new ArrayList<>(), new ArrayList<>(), new ArrayList<>());
        for (boolean acceptable : new boolean[] {true, false}) {
            List<Sentence> ofLabel = new ArrayList<>();
            for (Sentence sentence : sentences) {
                if (sentence.acceptable() == acceptable) {
                    ofLabel.add(sentence);
                }
            }
            shuffle(ofLabel, random);
            int n = ofLabel.size();
            int train = (int) Math.round(n * fractions.train());
            int dev = Math.min(n - train, (int) Math.round(n * fractions.dev()));
            parts.get(0).addAll(ofLabel.subList(0, train));
            parts.get(1).addAll(ofLabel.subList(train, train + dev));
            parts.get(2).addAll(ofLabel.subList(train + dev, n));
        }
        Map<String, List<Sentence>> splits = new LinkedHashMap<>();
        for (int i = 0; i < SPLITS.size(); i++) {
            shuffle(parts.get(i), random);
            splits.put(SPLITS.get(i), List.copyOf(parts.get(i)));
        }
        return Collections.unmodifiableMap(splits);
    }

    /**
     * How an uncased BERT tokenizer sees {@code text}: lowercased, accents (combining marks after canonical
     * decomposition) removed, punctuation split off as separate tokens, and tokens joined by single spaces, so
     * whitespace next to punctuation and runs of whitespace do not matter. Two texts with the same key are
     * indistinguishable to such a model.
     */
    public static String uncasedKey(String text) {
        String folded = COMBINING_MARKS.matcher(Normalizer.normalize(text, Normalizer.Form.NFD)).replaceAll("").toLowerCase(Locale.ROOT);
        StringBuilder key = new StringBuilder(folded.length());
        boolean inWord = false;
        for (int i = 0; i < folded.length(); ) {
            int cp = folded.codePointAt(i);
            i += Character.charCount(cp);
            if (Character.isWhitespace(cp) || Character.isSpaceChar(cp)) {
                inWord = false;
            } else if (isBertPunctuation(cp)) {
                if (!key.isEmpty()) {
                    key.append(' ');
                }
                key.appendCodePoint(cp);
                inWord = false;
            } else {
                if (!inWord && !key.isEmpty()) {
                    key.append(' ');
                }
                key.appendCodePoint(cp);
                inWord = true;
            }
        }
        return key.toString();
    }

    /** BERT's {@code _is_punctuation}: ASCII symbols and punctuation, and every Unicode punctuation category. */
    private static boolean isBertPunctuation(int cp) {
        if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126)) {
            return true;
        }
        return switch (Character.getType(cp)) {
            case Character.CONNECTOR_PUNCTUATION, Character.DASH_PUNCTUATION, Character.START_PUNCTUATION, Character.END_PUNCTUATION,
                    Character.INITIAL_QUOTE_PUNCTUATION, Character.FINAL_QUOTE_PUNCTUATION, Character.OTHER_PUNCTUATION -> true;
            default -> false;
        };
    }

    /** Runs of whitespace (no-break and zero-width spaces included) as one space, ends trimmed. */
    static String normalizeWhitespace(String text) {
        return WHITESPACE.matcher(text).replaceAll(" ").strip();
    }

    /** True if {@code text} holds a placeholder or a note that is not part of a sentence (see the class comment). */
    static boolean hasPlaceholder(String text) {
        return PLACEHOLDER.matcher(text).find();
    }

    /** The JDK's SAX parser, refusing DTDs and entities from outside the document and limiting entity expansion. */
    static SAXParser secureParser() {
        try {
            SAXParserFactory factory = SAXParserFactory.newDefaultInstance();   // the JDK's, not one found on the class path
            factory.setNamespaceAware(false);
            factory.setValidating(false);
            factory.setXIncludeAware(false);
            factory.setFeature(XMLConstants.FEATURE_SECURE_PROCESSING, true);
            factory.setFeature("http://xml.org/sax/features/external-general-entities", false);
            factory.setFeature("http://xml.org/sax/features/external-parameter-entities", false);
            factory.setFeature("http://apache.org/xml/features/nonvalidating/load-external-dtd", false);
            SAXParser parser = factory.newSAXParser();
            parser.setProperty(XMLConstants.ACCESS_EXTERNAL_DTD, "");
            parser.setProperty(XMLConstants.ACCESS_EXTERNAL_SCHEMA, "");
            return parser;
        } catch (ParserConfigurationException | SAXException e) {
            throw new IllegalStateException("the JDK's XML parser does not support the settings that make parsing safe: " + e.getMessage(), e);
        }
    }

    /** One {@code <example>} as read: its text split at the first marker, and its label. */
    private record RawExample(String before, String marker, String after, boolean hasMarker, boolean acceptable, String correction) {
        String text() {
            return before + marker + after;
        }
    }

    /** Collects the examples of a rules file; refuses external entities. */
    private static final class ExampleHandler extends DefaultHandler {
        final List<RawExample> examples = new ArrayList<>();
        int unknownType;

        private StringBuilder before;   // non-null while inside an <example>
        private StringBuilder marker;
        private StringBuilder after;
        private int markerState;        // 0 before the first marker, 1 inside it, 2 after it
        private int markerDepth;
        private Boolean acceptable;
        private String correction;

        @Override
        public void startElement(String uri, String localName, String qName, Attributes attributes) throws SAXException {
            if (qName.equals("example")) {
                if (before != null) {
                    throw new SAXException("an <example> inside an <example>; rules files do not nest them");
                }
                before = new StringBuilder();
                marker = new StringBuilder();
                after = new StringBuilder();
                markerState = 0;
                markerDepth = 0;
                correction = attributes.getValue("correction");
                String type = attributes.getValue("type");
                if (correction != null || "triggers_error".equals(type) || "incorrect".equals(type)) {
                    acceptable = false;
                } else if (type == null || type.equals("correct")) {
                    acceptable = true;
                } else {
                    acceptable = null;   // an unknown type: dropped
                }
            } else if (before != null && qName.equals("marker")) {
                markerDepth++;
                if (markerState == 0) {
                    markerState = 1;
                }
            }
        }

        @Override
        public void endElement(String uri, String localName, String qName) {
            if (before == null) {
                return;
            }
            if (qName.equals("marker")) {
                markerDepth--;
                if (markerDepth == 0 && markerState == 1) {
                    markerState = 2;
                }
            } else if (qName.equals("example")) {
                if (acceptable == null) {
                    unknownType++;
                } else {
                    examples.add(new RawExample(before.toString(), marker.toString(), after.toString(), markerState == 2, acceptable,
                            correction));
                }
                before = null;
            }
        }

        @Override
        public void characters(char[] ch, int start, int length) {
            if (before == null) {
                return;
            }
            (markerState == 0 ? before : markerState == 1 ? marker : after).append(ch, start, length);
        }

        @Override
        public void skippedEntity(String name) throws SAXException {
            throw new SAXException("refused to read entity '" + name + "': external entities are not loaded");
        }

        @Override
        public InputSource resolveEntity(String publicId, String systemId) throws SAXException {
            throw new SAXException("refused to load the external entity " + systemId + ": only internal entities are allowed");
        }
    }

    /** Applies the cleaning steps of the class comment to the examples in file order. */
    private static Extraction clean(List<RawExample> raw, int unknownType) {
        int markedAcceptable = 0;
        int droppedEmpty = 0;
        int droppedPlaceholders = 0;
        int droppedInvisible = 0;
        List<Sentence> candidates = new ArrayList<>();
        for (RawExample example : raw) {
            markedAcceptable += example.acceptable() ? 1 : 0;
            String text = normalizeWhitespace(example.text());
            if (text.isEmpty()) {
                droppedEmpty++;
            } else if (hasPlaceholder(text)) {
                droppedPlaceholders++;
            } else if (!example.acceptable() && errorInvisibleWhenUncased(example)) {
                droppedInvisible++;
            } else {
                candidates.add(new Sentence(text, example.acceptable()));
            }
        }
        int markedUnacceptable = raw.size() - markedAcceptable;

        // Exact texts: merge repeats, drop texts marked both ways.
        Map<String, List<Sentence>> byText = new LinkedHashMap<>();
        for (Sentence sentence : candidates) {
            byText.computeIfAbsent(sentence.text(), t -> new ArrayList<>()).add(sentence);
        }
        int duplicates = 0;
        int conflictingTexts = 0;
        int conflictingExamples = 0;
        List<Sentence> distinct = new ArrayList<>();
        for (List<Sentence> group : byText.values()) {
            if (mixedLabels(group)) {
                conflictingTexts++;
                conflictingExamples += group.size();
            } else {
                distinct.add(group.get(0));
                duplicates += group.size() - 1;
            }
        }

        // Texts an uncased tokenizer cannot tell apart: merge when the labels agree, drop all when they do not.
        Map<String, List<Sentence>> byKey = new LinkedHashMap<>();
        for (Sentence sentence : distinct) {
            byKey.computeIfAbsent(uncasedKey(sentence.text()), k -> new ArrayList<>()).add(sentence);
        }
        int uncasedMerged = 0;
        int uncasedConflicts = 0;
        List<Sentence> kept = new ArrayList<>();
        for (List<Sentence> group : byKey.values()) {
            if (mixedLabels(group)) {
                uncasedConflicts += group.size();
            } else {
                kept.add(group.get(0));
                uncasedMerged += group.size() - 1;
            }
        }
        int acceptable = (int) kept.stream().filter(Sentence::acceptable).count();
        Stats stats = new Stats(raw.size() + unknownType, markedAcceptable, markedUnacceptable, unknownType, droppedEmpty,
                droppedPlaceholders, droppedInvisible, duplicates, conflictingTexts, conflictingExamples, uncasedMerged, uncasedConflicts,
                acceptable, kept.size() - acceptable);
        return new Extraction(kept, stats);
    }

    /**
     * True if some suggested correction, put in place of the marked span, gives a text with the same
     * {@link #uncasedKey} as the example: its error is then only in case, accents or spacing around punctuation.
     */
    private static boolean errorInvisibleWhenUncased(RawExample example) {
        if (!example.hasMarker() || example.correction() == null || example.correction().isEmpty()) {
            return false;
        }
        String key = uncasedKey(example.text());
        for (String suggestion : example.correction().split("\\|")) {
            if (!suggestion.isEmpty() && uncasedKey(example.before() + suggestion + example.after()).equals(key)) {
                return true;
            }
        }
        return false;
    }

    private static boolean mixedLabels(List<Sentence> group) {
        boolean first = group.get(0).acceptable();
        for (Sentence sentence : group) {
            if (sentence.acceptable() != first) {
                return true;
            }
        }
        return false;
    }

    private static Map<String, Integer> countLabels(List<Sentence> sentences) {
        Map<String, Integer> counts = new LinkedHashMap<>();
        counts.put(ACCEPTABLE, 0);
        counts.put(UNACCEPTABLE, 0);
        for (Sentence sentence : sentences) {
            counts.merge(sentence.label(), 1, Integer::sum);
        }
        return counts;
    }

    private static <T> void shuffle(List<T> list, SplittableRandom random) {
        for (int i = list.size() - 1; i > 0; i--) {
            Collections.swap(list, i, random.nextInt(i + 1));
        }
    }
}
