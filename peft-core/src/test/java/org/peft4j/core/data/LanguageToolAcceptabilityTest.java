package org.peft4j.core.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.peft4j.core.data.LanguageToolAcceptability.Extraction;
import org.peft4j.core.data.LanguageToolAcceptability.Fractions;
import org.peft4j.core.data.LanguageToolAcceptability.Sentence;
import org.peft4j.core.data.LanguageToolAcceptability.SplitReport;
import org.peft4j.core.data.LanguageToolAcceptability.Stats;

class LanguageToolAcceptabilityTest {
    /** The real grammar.xml, parsed once for the tests that read it. */
    private static Extraction real;

    @TempDir
    Path dir;

    @BeforeAll
    static void loadRealRules() {
        real = LanguageToolAcceptability.load();
        System.out.println("LanguageTool acceptability: " + real.stats());
    }

    // ---------------------------------------------------------------- the real file

    @Test
    void realRulesGiveAPlausibleCleanDataset() {
        Stats stats = real.stats();
        assertTrue(stats.examples() > 20_000 && stats.examples() < 30_000, "grammar.xml 6.5 has about 22,500 examples: " + stats);
        assertEquals(stats.examples(), stats.markedAcceptable() + stats.markedUnacceptable() + stats.droppedUnknownType());
        assertTrue(stats.acceptable() > 8_000 && stats.acceptable() < 14_000, "acceptable: " + stats);
        assertTrue(stats.unacceptable() > 4_000 && stats.unacceptable() < 9_000, "unacceptable: " + stats);
        assertTrue(stats.conflictingTexts() > 0, "some sentences are marked both ways in 6.5: " + stats);
        assertTrue(stats.droppedInvisibleErrors() > 0, "capitalization-only corrections exist (e.g. 'ponzi scheme'): " + stats);
        assertEquals(stats.kept(), real.sentences().size());

        Set<String> texts = new HashSet<>();
        Set<String> keys = new HashSet<>();
        for (Sentence sentence : real.sentences()) {
            String text = sentence.text();
            assertFalse(text.contains("<") && text.contains("marker"), "marker tags must be stripped: " + text);
            assertEquals(text, LanguageToolAcceptability.normalizeWhitespace(text), "whitespace must be normalised");
            assertFalse(LanguageToolAcceptability.hasPlaceholder(text), text);
            assertTrue(texts.add(text), "duplicate sentence " + text);
            assertTrue(keys.add(LanguageToolAcceptability.uncasedKey(text)), "two sentences an uncased model cannot tell apart: " + text);
        }
    }

    @Test
    void realRulesKeepMarkedSpansAsText() {
        Map<String, Boolean> labels = new HashMap<>();
        real.sentences().forEach(s -> labels.put(s.text(), s.acceptable()));
        // <example correction="begins">It <marker>beings</marker> to rain.</example>
        assertEquals(Boolean.FALSE, labels.get("It beings to rain."));
        // <example correction="Thank"><marker>Tank</marker> you very much!</example>
        assertEquals(Boolean.FALSE, labels.get("Tank you very much!"));
        // a plain example
        assertEquals(Boolean.TRUE, labels.get("His debts amount to $2,000."));
        // <example correction="Ponzi scheme">A <marker>ponzi scheme</marker> is a form of fraud.</example>: only case differs
        assertFalse(labels.containsKey("A ponzi scheme is a form of fraud."), "a capitalization-only error is invisible when uncased");
    }

    @Test
    void realSplitsAreStratifiedDisjointAndReproducible() throws IOException {
        SplitReport report = LanguageToolAcceptability.writeSplits(real, dir.resolve("a"), Fractions.standard(), 42);
        System.out.println("LanguageTool acceptability splits: " + report.counts());
        int total = 0;
        Map<String, String> splitOf = new HashMap<>();
        Map<String, String> splitOfKey = new HashMap<>();
        for (String split : LanguageToolAcceptability.SPLITS) {
            ClassificationData data = JsonlDataset.classification(report.files().get(split));
            assertEquals(List.of(LanguageToolAcceptability.ACCEPTABLE, LanguageToolAcceptability.UNACCEPTABLE), data.labelSet().names(),
                    "both labels present in " + split);
            int[] counts = data.labelCounts();
            assertEquals(report.counts().get(split).get(LanguageToolAcceptability.ACCEPTABLE), counts[0]);
            assertEquals(report.counts().get(split).get(LanguageToolAcceptability.UNACCEPTABLE), counts[1]);
            assertTrue(counts[0] > 0 && counts[1] > 0, split + " needs both labels");
            for (String text : data.texts()) {
                String previous = splitOf.put(text, split);
                assertEquals(null, previous, "'" + text + "' is in " + previous + " and " + split);
                String previousKey = splitOfKey.put(LanguageToolAcceptability.uncasedKey(text), split);
                assertEquals(null, previousKey, "an uncased twin of '" + text + "' is in " + previousKey);
            }
            total += data.size();
        }
        assertEquals(real.stats().kept(), total);
        double trainShare = report.size("train") / (double) total;
        assertEquals(0.8, trainShare, 0.001);
        double unacceptableShare = real.stats().unacceptable() / (double) total;
        for (String split : LanguageToolAcceptability.SPLITS) {
            double share = report.counts().get(split).get(LanguageToolAcceptability.UNACCEPTABLE) / (double) report.size(split);
            assertEquals(unacceptableShare, share, 0.002, "stratified: " + split);
        }
        assertTrue(Files.readString(report.files().get("stats")).contains("\"conflictingTexts\""));

        SplitReport again = LanguageToolAcceptability.writeSplits(real, dir.resolve("b"), Fractions.standard(), 42);
        SplitReport otherSeed = LanguageToolAcceptability.writeSplits(real, dir.resolve("c"), Fractions.standard(), 43);
        for (String split : LanguageToolAcceptability.SPLITS) {
            assertEquals(Files.readString(report.files().get(split)), Files.readString(again.files().get(split)), "same seed, same " + split);
            assertNotEquals(Files.readString(report.files().get(split)), Files.readString(otherSeed.files().get(split)));
        }
    }

    @Test
    void missingResourceNamesTheMavenCoordinates() throws IOException {
        try (URLClassLoader empty = new URLClassLoader(new URL[0], null)) {
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> LanguageToolAcceptability.load(empty));
            assertTrue(e.getMessage().contains("org.languagetool:language-en:6.5"), e.getMessage());
            assertTrue(e.getMessage().contains(LanguageToolAcceptability.RESOURCE), e.getMessage());
        }
    }

    // ---------------------------------------------------------------- labels and cleaning on small files

    private static Extraction parse(String xml) throws IOException {
        return LanguageToolAcceptability.parse(new ByteArrayInputStream(xml.getBytes(StandardCharsets.UTF_8)), "test.xml");
    }

    private static Map<String, Boolean> labels(Extraction extraction) {
        Map<String, Boolean> map = new HashMap<>();
        extraction.sentences().forEach(s -> map.put(s.text(), s.acceptable()));
        return map;
    }

    @Test
    void labelsCleaningAndCounts() throws IOException {
        String xml = """
                <?xml version="1.0" encoding="UTF-8"?>
                <!DOCTYPE rules [
                    <!ENTITY nbsp "&#x00A0;">
                    <!ENTITY months "January|February">
                ]>
                <rules lang="en"><category id="C"><rule id="R">
                  <pattern><token regexp="yes">&months;</token></pattern>
                  <example correction="is">He <marker>are</marker>   happy.</example>
                  <example>He is happy.</example>
                  <example type="triggers_error">Me <marker>goes</marker> home.</example>
                  <example type="incorrect">Them is here.</example>
                  <example type="correct">They are here.</example>
                  <example type="someday">An unknown kind.</example>
                  <example>  </example>
                  <example>It weighs 5&nbsp;kg.</example>
                  <example>A tab is "\\t".</example>
                  <example>Caught by MANY_NN: Many child are unhappy.</example>
                  <example>He is happy.</example>
                  <example correction="">Both ways.</example>
                  <example>Both ways.</example>
                  <example correction="Ponzi scheme">A <marker>ponzi scheme</marker> is fraud.</example>
                  <example>I saw Tom.</example>
                  <example correction="">I saw tom.</example>
                  <example>The END.</example>
                  <example>The end .</example>
                  <example>I am <em>searching</em> now.</example>
                </rule></category></rules>
                """;
        Extraction extraction = parse(xml);
        Map<String, Boolean> labels = labels(extraction);
        assertEquals(Boolean.FALSE, labels.get("He are happy."), "correction marks an error; marker text kept, spaces collapsed");
        assertEquals(Boolean.TRUE, labels.get("He is happy."));
        assertEquals(Boolean.FALSE, labels.get("Me goes home."), "triggers_error marks an error");
        assertEquals(Boolean.FALSE, labels.get("Them is here."));
        assertEquals(Boolean.TRUE, labels.get("They are here."));
        assertEquals(Boolean.TRUE, labels.get("It weighs 5 kg."), "the internal entity &nbsp; is expanded, then normalised");
        assertEquals(Boolean.TRUE, labels.get("I am searching now."), "text of other elements is kept");
        assertEquals(Boolean.TRUE, labels.get("The END."), "case and punctuation-spacing twins with one label are merged");
        assertFalse(labels.containsKey("The end ."));
        assertFalse(labels.containsKey("Both ways."), "marked both ways: dropped");
        assertFalse(labels.containsKey("I saw Tom."), "uncased twins with different labels: both dropped");
        assertFalse(labels.containsKey("I saw tom."));
        assertFalse(labels.containsKey("A ponzi scheme is fraud."), "a case-only correction is invisible when uncased");

        Stats stats = extraction.stats();
        assertEquals(19, stats.examples());
        assertEquals(1, stats.droppedUnknownType());
        assertEquals(1, stats.droppedEmpty());
        assertEquals(2, stats.droppedPlaceholders());
        assertEquals(1, stats.droppedInvisibleErrors());
        assertEquals(1, stats.duplicatesMerged());
        assertEquals(1, stats.conflictingTexts());
        assertEquals(2, stats.conflictingExamples());
        assertEquals(1, stats.uncasedDuplicatesMerged());
        assertEquals(2, stats.uncasedConflictsDropped());
        assertEquals(5, stats.acceptable());
        assertEquals(3, stats.unacceptable());
        assertEquals(List.of("He are happy.", "He is happy.", "Me goes home.", "Them is here.", "They are here.", "It weighs 5 kg.",
                "The END.", "I am searching now."), extraction.sentences().stream().map(Sentence::text).toList(), "file order");
    }

    @Test
    void uncasedKeyIgnoresCaseAccentsAndSpacingAroundPunctuation() {
        assertEquals(LanguageToolAcceptability.uncasedKey("Café, s'il vous plaît!"), LanguageToolAcceptability.uncasedKey("cafe ,s ' il vous plait !"));
        assertNotEquals(LanguageToolAcceptability.uncasedKey("its"), LanguageToolAcceptability.uncasedKey("it's"));
        assertNotEquals(LanguageToolAcceptability.uncasedKey("a lot"), LanguageToolAcceptability.uncasedKey("alot"));
        assertEquals("25 , 5 kg", LanguageToolAcceptability.uncasedKey("25,5  KG"));
    }

    @Test
    void splitsValidateFractions() {
        assertThrows(IllegalArgumentException.class, () -> new Fractions(0.8, 0.1, 0.2));
        assertThrows(IllegalArgumentException.class, () -> new Fractions(1.1, -0.1, 0.0));
        assertThrows(IllegalArgumentException.class, () -> new Fractions(Double.NaN, 0.5, 0.5));
        List<Sentence> sentences = List.of(new Sentence("a b", true), new Sentence("c d", false), new Sentence("e f", true));
        Map<String, List<Sentence>> all = LanguageToolAcceptability.split(sentences, new Fractions(1, 0, 0), 1);
        assertEquals(3, all.get("train").size());
        assertTrue(all.get("dev").isEmpty() && all.get("test").isEmpty());
    }

    // ---------------------------------------------------------------- hostile XML

    @Test
    void externalEntitiesAreRefused(@TempDir Path secrets) throws IOException {
        Path secret = secrets.resolve("secret.txt");
        Files.writeString(secret, "TOP-SECRET-CONTENT");
        String xml = "<?xml version=\"1.0\"?>\n<!DOCTYPE rules [<!ENTITY xxe SYSTEM \"" + secret.toUri() + "\">]>\n"
                + "<rules><rule><example>&xxe;</example></rule></rules>";
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> parse(xml));
        assertTrue(e.getMessage().contains("refused"), e.getMessage());
        assertFalse(e.getMessage().contains("TOP-SECRET"), e.getMessage());
    }

    @Test
    void externalParameterEntitiesAndDtdsAreNotLoaded(@TempDir Path secrets) throws IOException {
        Path dtd = secrets.resolve("evil.dtd");
        Files.writeString(dtd, "<!ENTITY leak \"TOP-SECRET-CONTENT\">");
        String parameterEntity = "<?xml version=\"1.0\"?>\n<!DOCTYPE rules [<!ENTITY % ext SYSTEM \"" + dtd.toUri() + "\"> %ext;]>\n"
                + "<rules><rule><example>&leak;</example></rule></rules>";
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> parse(parameterEntity));
        assertFalse(e.getMessage().contains("TOP-SECRET"), e.getMessage());

        String externalDtd = "<?xml version=\"1.0\"?>\n<!DOCTYPE rules SYSTEM \"" + dtd.toUri() + "\">\n"
                + "<rules><rule><example>A plain sentence.</example><example>&leak;</example></rule></rules>";
        IllegalArgumentException e2 = assertThrows(IllegalArgumentException.class, () -> parse(externalDtd));
        assertFalse(e2.getMessage().contains("TOP-SECRET"), e2.getMessage());
    }

    @Test
    void entityExpansionBombsAreStopped() {
        StringBuilder xml = new StringBuilder("<?xml version=\"1.0\"?>\n<!DOCTYPE rules [\n<!ENTITY l0 \"lol\">\n");
        for (int i = 1; i <= 10; i++) {
            xml.append("<!ENTITY l").append(i).append(" \"").append(("&l" + (i - 1) + ";").repeat(10)).append("\">\n");
        }
        xml.append("]>\n<rules><rule><example>&l10;</example></rule></rules>");
        IllegalArgumentException e = assertTimeoutPreemptively(Duration.ofSeconds(20),
                () -> assertThrows(IllegalArgumentException.class, () -> parse(xml.toString())));
        assertTrue(e.getMessage().toLowerCase().contains("entit"), e.getMessage());
    }

    @Test
    void malformedXmlNamesTheLine() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> parse("<rules>\n<rule>\n<example>oops</rule></rules>"));
        assertTrue(e.getMessage().startsWith("test.xml:3:"), e.getMessage());
    }

    @Test
    void theRealResourceIsReadWithoutItsDependencies() throws IOException {
        try (InputStream in = LanguageToolAcceptability.class.getClassLoader().getResourceAsStream(LanguageToolAcceptability.RESOURCE)) {
            assertTrue(in != null, "language-en is a test dependency of peft-core");
        }
    }
}
