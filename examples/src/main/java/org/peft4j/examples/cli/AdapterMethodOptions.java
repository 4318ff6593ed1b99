package org.peft4j.examples.cli;

import java.util.List;
import org.peft4j.adapter.bitfit.BitFitConfig;
import org.peft4j.adapter.bottleneck.BottleneckConfig;
import org.peft4j.adapter.bottleneck.Placement;
import org.peft4j.core.tuner.PeftConfig;
import org.peft4j.core.tuner.TaskType;
import picocli.CommandLine.Option;

/** The options of {@code peft4j train --method adapter} (bottleneck adapters) and {@code --method bitfit}. */
final class AdapterMethodOptions {
    @Option(names = "--adapter-placement", paramLabel = "KIND", defaultValue = "houlsby",
            description = "Bottleneck adapter placement: houlsby (after attention and feed-forward), pfeiffer (after feed-forward) "
                    + "or parallel (beside feed-forward).")
    String placement;

    @Option(names = "--reduction-factor", paramLabel = "X", defaultValue = "16",
            description = "Bottleneck adapter size: hidden size / this factor.")
    double reductionFactor;

    @Option(names = "--bottleneck-size", paramLabel = "N", defaultValue = "0",
            description = "Bottleneck adapter size itself (overrides --reduction-factor); 0 = from the factor.")
    int bottleneckSize;

    @Option(names = "--adapter-non-linearity", paramLabel = "F",
            description = "relu, gelu, swish or tanh; default: swish for houlsby, relu otherwise.")
    String nonLinearity;

    @Option(names = "--adapter-scaling", paramLabel = "X", description = "Scale of the adapter output; default: 4 for parallel, 1 otherwise.")
    Double scaling;

    @Option(names = "--adapter-leave-out", paramLabel = "LAYERS", split = ",", description = "Layer indices without adapters, e.g. 0,1.")
    List<Integer> leaveOut;

    @Option(names = "--adapter-train-layer-norms", description = "Train the model's LayerNorms with the bottleneck adapters (Houlsby et al.).")
    boolean trainLayerNorms;

    @Option(names = "--bitfit-biases", paramLabel = "MODULES", split = ",", defaultValue = "all",
            description = "BitFit: all, or the modules whose biases train, e.g. query,intermediate.dense.")
    List<String> bitfitBiases;

    /** True for the methods these options describe. */
    static boolean handles(String method) {
        return method.equals("adapter") || method.equals("bitfit");
    }

    /** The config of {@code method} from these options; {@code targetModules} (--target-modules) overrides the adapter's targets. */
    PeftConfig config(String method, TaskType taskType, List<String> targetModules) {
        if (method.equals("bitfit")) {
            BitFitConfig.Builder b = BitFitConfig.builder().taskType(taskType);
            if (!(bitfitBiases.size() == 1 && bitfitBiases.get(0).equals("all"))) {
                b.biases(bitfitBiases.toArray(new String[0]));
            }
            return b.build();
        }
        BottleneckConfig.Builder b = BottleneckConfig.builder().placement(Placement.parse(placement)).reductionFactor(reductionFactor)
                .bottleneckSize(bottleneckSize).trainLayerNorms(trainLayerNorms).taskType(taskType);
        if (nonLinearity != null) {
            b.nonLinearity(BottleneckConfig.parseNonLinearity(nonLinearity));
        }
        if (scaling != null) {
            b.scaling(scaling);
        }
        if (leaveOut != null) {
            b.leaveOut(leaveOut);
        }
        if (targetModules != null && !targetModules.isEmpty()) {
            b.targetModules(targetModules.toArray(new String[0]));
        }
        return b.build();
    }
}
