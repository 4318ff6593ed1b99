package org.peft4j.core.io.onnx;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.io.onnx.OnnxWeights.Initializer;
import org.peft4j.core.io.onnx.OnnxWeights.Node;
import org.peft4j.core.model.WeightSource;

/**
 * The weights of an ONNX model exported from PyTorch, by HF parameter paths: a {@link WeightSource} over
 * {@link OnnxWeights} whose names are those of the model's {@code state_dict}.
 *
 * <p>The exporter keeps the names of initializers it uses as they are (embeddings, biases, LayerNorm
 * weights: {@code encoder.layer.0.attention.self.query.bias}), but a {@code torch.nn.Linear} applied to a
 * 3-D input becomes {@code MatMul(x, W)} with W transposed to {@code [in, out]} and given an opaque
 * name ({@code onnx::MatMul_787}). Such a weight is named after its MatMul node, whose name is the module
 * path ({@code /encoder/layer.0/attention/self/query/MatMul} → {@code encoder.layer.0.attention.self.query.weight}),
 * or, for nodes without a path, after the bias that an Add node right after it adds
 * ({@code X.bias} → {@code X.weight}); it is read back transposed to torch's {@code [out, in]}. Initializers
 * that are neither are listed by {@link #unmapped()}.
 */
public final class OnnxHfNames implements WeightSource {
    /** A parameter path: dotted identifiers, as in a PyTorch state_dict. */
    private static final Pattern PARAM_PATH = Pattern.compile("[A-Za-z_][A-Za-z0-9_]*(\\.[A-Za-z0-9_]+)+");
    /** A MatMul node named by its module scope: /encoder/layer.0/attention/self/query/MatMul (or MatMul_1). */
    private static final Pattern SCOPED_MATMUL = Pattern.compile("/(.+)/MatMul(_\\d+)?");

    /** One HF tensor: the ONNX initializer it is read from, and whether that stores it transposed ({@code [in, out]}). */
    public record Entry(String hfName, String onnxName, boolean transposed) {
    }

    private final OnnxWeights onnx;
    private final Map<String, Entry> entries;
    private final List<String> unmapped;

    private OnnxHfNames(OnnxWeights onnx, Map<String, Entry> entries, List<String> unmapped) {
        this.onnx = onnx;
        this.entries = Collections.unmodifiableMap(entries);
        this.unmapped = List.copyOf(unmapped);
    }

    /** Builds the name map from the initializers and nodes of {@code onnx}; fails if two tensors claim one HF name. */
    public static OnnxHfNames of(OnnxWeights onnx) {
        Map<String, Entry> entries = new LinkedHashMap<>();
        Map<String, Initializer> initializers = onnx.initializers();
        Set<String> weights = onnx.names();
        for (String name : weights) {
            if (!name.startsWith("onnx::") && PARAM_PATH.matcher(name).matches()) {
                entries.put(name, new Entry(name, name, false));
            }
        }
        Map<String, String> producedBy = new HashMap<>();       // Identity output → its input
        Map<String, List<Node>> consumers = new HashMap<>();
        for (Node node : onnx.nodes()) {
            if (node.opType().equals("Identity") && node.inputs().size() == 1 && node.outputs().size() == 1) {
                producedBy.put(node.outputs().get(0), node.inputs().get(0));
            }
            for (String input : node.inputs()) {
                consumers.computeIfAbsent(input, k -> new ArrayList<>()).add(node);
            }
        }
        Map<String, String> mappedOnnx = new HashMap<>();        // ONNX initializer → the HF name it got
        for (Node node : onnx.nodes()) {
            if (!node.opType().equals("MatMul") || node.inputs().size() != 2) {
                continue;
            }
            String weight = resolve(node.inputs().get(1), producedBy);
            Initializer info = initializers.get(weight);
            if (info == null || !weights.contains(weight) || info.dims().length != 2 || entries.containsKey(weight)
                    || mappedOnnx.containsKey(weight)) {
                continue;                                        // an activation, a named weight, or one already mapped
            }
            String module = modulePath(node, consumers, weights);
            if (module == null) {
                continue;
            }
            String hfName = module + ".weight";
            Entry previous = entries.get(hfName);
            if (previous != null) {
                throw new IllegalArgumentException(onnx.path() + ": initializers '" + previous.onnxName() + "' and '" + weight
                        + "' would both be " + hfName + "; the graph's node names are ambiguous");
            }
            entries.put(hfName, new Entry(hfName, weight, true));
            mappedOnnx.put(weight, hfName);
        }
        List<String> unmapped = new ArrayList<>();
        for (String name : weights) {
            if (!entries.containsKey(name) && !mappedOnnx.containsKey(name)) {
                unmapped.add(name);
            }
        }
        return new OnnxHfNames(onnx, entries, unmapped);
    }

    private static String resolve(String name, Map<String, String> producedBy) {
        String current = name;
        for (int hops = 0; hops < 64 && producedBy.containsKey(current); hops++) {
            current = producedBy.get(current);
        }
        return current;
    }

    /** The module path of a MatMul: from its scoped name, else from the bias an Add right after it adds. */
    private static String modulePath(Node matmul, Map<String, List<Node>> consumers, Set<String> weights) {
        Matcher m = SCOPED_MATMUL.matcher(matmul.name());
        if (m.matches()) {
            String path = m.group(1).replace('/', '.');
            if (PARAM_PATH.matcher(path + ".weight").matches()) {
                return path;
            }
        }
        for (String output : matmul.outputs()) {
            for (Node next : consumers.getOrDefault(output, List.of())) {
                if (!next.opType().equals("Add")) {
                    continue;
                }
                for (String input : next.inputs()) {
                    if (input.endsWith(".bias") && weights.contains(input) && PARAM_PATH.matcher(input).matches()) {
                        return input.substring(0, input.length() - ".bias".length());
                    }
                }
            }
        }
        return null;
    }

    /** The underlying ONNX file. */
    public OnnxWeights onnx() {
        return onnx;
    }

    /** Every HF tensor and where it comes from, by HF name. */
    public Map<String, Entry> entries() {
        return entries;
    }

    /** Floating-point initializers that got no HF name (neither a parameter path nor a Linear's weight). */
    public List<String> unmapped() {
        return unmapped;
    }

    @Override
    public Set<String> names() {
        return entries.keySet();
    }

    /** Tensor {@code hfName} in HF's layout (Linear weights {@code [out, in]}) as a new FLOAT array outside any workspace. */
    @Override
    public INDArray get(String hfName) {
        Entry entry = entries.get(hfName);
        if (entry == null) {
            List<String> names = new ArrayList<>(entries.keySet());
            throw new IllegalArgumentException(onnx.path() + " has no tensor that maps to '" + hfName + "'; mapped names include "
                    + names.subList(0, Math.min(20, names.size())) + (names.size() > 20 ? " ..." : ""));
        }
        INDArray stored = onnx.get(entry.onnxName());
        if (!entry.transposed()) {
            return stored;
        }
        try (var ignored = org.nd4j.linalg.factory.Nd4j.getWorkspaceManager().scopeOutOfWorkspaces()) {
            INDArray outIn = stored.transpose().dup('c');              // [in, out] → [out, in]
            stored.close();
            return outIn;
        }
    }

    @Override
    public String toString() {
        return "OnnxHfNames[" + onnx.path() + ", " + entries.size() + " tensors, " + unmapped.size() + " unmapped]";
    }
}
