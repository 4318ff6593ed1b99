package org.peft4j.examples.cli;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import org.peft4j.core.model.PretrainedModel;
import org.peft4j.core.nn.Module;
import org.peft4j.core.param.ParamRegistry;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code peft4j info}: what a model is and where its parameters are. */
@Command(name = "info", sortOptions = false,
        description = {"Print a model's architecture and its parameter counts by module.",
            "PATH is an HF checkpoint directory."})
public final class InfoCommand extends CliCommand {
    @Option(names = "--model", paramLabel = "PATH", required = true, description = "The model.")
    String model;

    @Option(names = "--depth", paramLabel = "N", defaultValue = "3", showDefaultValue = picocli.CommandLine.Help.Visibility.ALWAYS,
            description = "Module path depth of the count table.")
    int depth;

    @Override
    public Integer call() throws Exception {
        if (depth < 1) {
            throw usageError("--depth must be >= 1, got " + depth);
        }
        PretrainedModel loaded = ModelLoader.load(model, ModelLoader.describedOptions(model));
        Module root = loaded.module();
        ParamRegistry registry = new ParamRegistry(root);
        out().printf(Locale.ROOT, "model_type: %s%n%s%n", loaded.modelType(), root.describe());
        out().printf(Locale.ROOT, "%-56s %15s%n", "module", "params");
        for (Map.Entry<String, Long> e : countsByModule(registry, depth).entrySet()) {
            out().printf(Locale.ROOT, "%-56s %,15d%n", e.getKey(), e.getValue());
        }
        out().printf(Locale.ROOT, "all params: %,d%n", registry.totalCount());
        out().flush();
        return Peft4jCli.EXIT_OK;
    }

    /** Elements of every param, summed by the first {@code depth} segments of its module path. */
    static Map<String, Long> countsByModule(ParamRegistry registry, int depth) {
        Map<String, Long> counts = new LinkedHashMap<>();
        for (ParamRegistry.NamedParam np : registry.all()) {
            String[] parts = np.path().split("\\.");
            int keep = Math.min(depth, parts.length - 1);
            String module = keep == 0 ? "(root)" : String.join(".", java.util.Arrays.copyOf(parts, keep));
            counts.merge(module, np.param().length(), Long::sum);
        }
        return counts;
    }
}
