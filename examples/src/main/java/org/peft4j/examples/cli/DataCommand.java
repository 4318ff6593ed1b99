package org.peft4j.examples.cli;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Locale;
import org.peft4j.core.data.LanguageToolAcceptability;
import org.peft4j.core.data.LanguageToolAcceptability.Fractions;
import org.peft4j.core.data.LanguageToolAcceptability.SplitReport;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code peft4j data}: builds datasets from text that ships in Maven artifacts; each is a subcommand. */
@Command(name = "data",
        description = "Build datasets from text shipped in Maven artifacts.",
        subcommands = {DataCommand.Acceptability.class})
public final class DataCommand extends CliCommand {
    @Override
    public Integer call() {
        spec.commandLine().usage(err());
        return Peft4jCli.EXIT_USAGE;
    }

    /** {@code peft4j data acceptability}: the LanguageTool sentence acceptability task as JSONL splits. */
    @Command(name = "acceptability", sortOptions = false, showDefaultValues = true,
            description = {"Write a sentence acceptability dataset (acceptable / unacceptable) built from the example sentences of",
                "LanguageTool's English grammar rules (" + LanguageToolAcceptability.ARTIFACT + ") as train.jsonl, dev.jsonl and",
                "test.jsonl, plus stats.json. Prints the counts per split and label."})
    public static final class Acceptability extends CliCommand {
        @Option(names = "--out", required = true, description = "Directory to write the files to.")
        Path out;

        @Option(names = "--seed", defaultValue = "42", description = "Seed of the split.")
        long seed;

        @Option(names = "--train", defaultValue = "0.8", description = "Share of the training split.")
        double train;

        @Option(names = "--dev", defaultValue = "0.1", description = "Share of the development split; the test split gets the rest.")
        double dev;

        @Override
        public Integer call() throws IOException {
            Fractions fractions;
            try {
                fractions = new Fractions(train, dev, 1 - train - dev);
            } catch (IllegalArgumentException e) {
                throw usageError("--train and --dev: " + e.getMessage());
            }
            SplitReport report = LanguageToolAcceptability.writeSplits(out, fractions, seed);
            out().printf(Locale.ROOT, "%-6s %10s %12s%n", "split", LanguageToolAcceptability.ACCEPTABLE, LanguageToolAcceptability.UNACCEPTABLE);
            report.counts().forEach((split, counts) -> out().printf(Locale.ROOT, "%-6s %10d %12d%n", split,
                    counts.get(LanguageToolAcceptability.ACCEPTABLE), counts.get(LanguageToolAcceptability.UNACCEPTABLE)));
            err().println("wrote " + report.files().values() + "; cleaning: " + report.stats());
            out().flush();
            return Peft4jCli.EXIT_OK;
        }
    }
}
