package org.peft4j.quant;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.io.AtomicFiles;
import org.peft4j.core.io.SafetensorsWeights;
import org.peft4j.core.kernel.KernelChoice;
import org.peft4j.core.model.HfCheckpoint;
import org.peft4j.core.model.LoadOptions;
import org.peft4j.core.model.ModelFactory;
import org.peft4j.core.model.ModelRegistry;
import org.peft4j.core.model.PretrainedModel;
import org.peft4j.core.model.WeightSource;
import org.peft4j.core.nn.Linear;
import org.peft4j.core.nn.Module;
import org.peft4j.core.nn.ModuleTree;

/**
 * A quantized base saved and loaded in its packed form, in the layout transformers writes for a bitsandbytes
 * model ({@code save_pretrained} of a model loaded with {@code BitsAndBytesConfig}):
 *
 * <pre>
 * config.json         the model's config plus "quantization_config" (quant_method "bitsandbytes", load_in_4bit or
 *                     load_in_8bit, bnb_4bit_quant_type, bnb_4bit_use_double_quant, ...)
 * model.safetensors   full-precision tensors under their HF names, and for every quantized Linear at path p:
 *   4-bit  p.weight                                   U8  [ceil(out·in/2), 1]  codes, 2 per byte, first in the high nibble
 *          p.weight.absmax                            F32 [blocks]  (U8 [blocks] with double quantization)
 *          p.weight.quant_map                         F32 [16]      the NF4 or FP4 code book
 *          p.weight.nested_absmax                     F32 [ceil(blocks/256)]   (double quantization)
 *          p.weight.nested_quant_map                  F32 [256]     the dynamic 8-bit map (double quantization)
 *          p.weight.quant_state.bitsandbytes__nf4     U8  [bytes]   JSON: quant_type, blocksize, dtype, shape [out, in],
 *                                                                   nested_blocksize, nested_dtype, nested_offset
 *   INT8   p.weight  I8 [out, in],  p.SCB  F32 [out]
 *          p.bias                                     F32 [out]     unchanged
 * </pre>
 *
 * The weight is always quantized in {@code [out, in]} order; GPT-2's Conv1D weights ({@code [in, out]} in its
 * checkpoints) are transposed first, as transformers does.
 */
public final class QuantizedCheckpoint {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String QUANT_STATE = ".weight.quant_state.bitsandbytes__";

    private QuantizedCheckpoint() {
    }

    /** Saves {@code model} (quantized with {@code q}) into {@code dir}: the packed weights and a config.json with quantization_config. */
    public static List<Path> save(PretrainedModel model, Path dir, Quantization q) throws IOException {
        List<Path> written = HfCheckpoint.save(model, dir);
        ObjectNode config = HfCheckpoint.readConfig(dir);
        config.set("quantization_config", quantizationConfig(q));
        byte[] json = JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(config);
        AtomicFiles.write(dir.resolve(HfCheckpoint.CONFIG_FILE), out -> {
            out.write(json);
            out.write('\n');
        });
        return written;
    }

    /** transformers' BitsAndBytesConfig fields for {@code q}. */
    static ObjectNode quantizationConfig(Quantization q) {
        ObjectNode c = JSON.createObjectNode();
        c.put("quant_method", "bitsandbytes");
        c.put("load_in_4bit", q.type().fourBit());
        c.put("load_in_8bit", !q.type().fourBit());
        if (q.type().fourBit()) {
            c.put("bnb_4bit_quant_type", q.type().bnbName());
            c.put("bnb_4bit_use_double_quant", q.doubleQuant());
            c.put("bnb_4bit_compute_dtype", "float32");
            c.put("bnb_4bit_quant_storage", "uint8");
        } else {
            c.put("llm_int8_threshold", 0.0);
        }
        return c;
    }

    /** True if the checkpoint in {@code dir} says it is quantized (config.json has a bitsandbytes quantization_config). */
    public static boolean isQuantized(Path dir) throws IOException {
        return HfCheckpoint.readConfig(dir).path("quantization_config").path("quant_method").asText().equals("bitsandbytes");
    }

    /**
     * Loads a checkpoint saved by {@link #save} (or by transformers with bitsandbytes, with the same names): the model is
     * built with the quantized weights dequantized, then every such Linear is replaced by a {@link QuantizedLinear} over
     * the packed tensors as stored, bit for bit. While loading, a float copy of the weights exists for a moment.
     */
    public static PretrainedModel load(Path dir, LoadOptions options) throws IOException {
        ObjectNode config = HfCheckpoint.readConfig(dir);
        if (!isQuantized(dir)) {
            throw new IllegalArgumentException(dir + " has no bitsandbytes quantization_config in config.json; load it with HfCheckpoint.load");
        }
        String modelType = config.path("model_type").asText();
        ModelFactory factory = ModelRegistry.installed().factory(modelType);
        boolean conv1d = modelType.equals("gpt2");                              // GPT-2 keeps its block weights [in, out]
        try (SafetensorsWeights file = SafetensorsWeights.open(HfCheckpoint.findWeights(dir))) {
            Map<String, QuantizedWeight> quantized = new LinkedHashMap<>();
            for (String path : quantizedPaths(file.names())) {
                quantized.put(path, read(file, path));
            }
            WeightSource dense = new WeightSource() {
                @Override
                public Set<String> names() {
                    Set<String> names = new TreeSet<>();
                    for (String n : file.names()) {
                        if (!isQuantizedExtra(n, quantized.keySet())) {
                            names.add(n);
                        }
                    }
                    return names;
                }

                @Override
                public INDArray get(String name) {
                    String path = name.endsWith(".weight") ? name.substring(0, name.length() - ".weight".length()) : null;
                    QuantizedWeight q = path == null ? null : quantized.get(path);
                    if (q == null) {
                        return file.get(name);
                    }
                    INDArray w = QuantizedLinear.dequantizeAll(q, KernelChoice.isCpuBackend());       // [out, in]
                    return conv1d ? w.transpose().dup('c') : w;
                }
            };
            PretrainedModel model = factory.load(config, dense, options);
            Module root = model.module();
            for (Map.Entry<String, QuantizedWeight> e : quantized.entrySet()) {
                String path = ModuleTree.modules(root).containsKey(e.getKey()) ? e.getKey() : null;
                if (path == null || !(ModuleTree.get(root, path) instanceof Linear linear)) {
                    throw new IllegalArgumentException(dir + ": quantized tensor " + e.getKey() + ".weight is not the weight of a Linear of this "
                            + modelType + " model");
                }
                QuantizedLinear q = new QuantizedLinear(e.getValue(), linear.bias(), linear.layout(), linear.dataType(),
                        QuantizedLinear.DEFAULT_SCRATCH_ELEMENTS);
                ModuleTree.replace(root, path, old -> q);
                linear.weight().close();
            }
            return model;
        }
    }

    /** Module paths with a packed 4-bit weight ({@code p.weight.quant_state.bitsandbytes__*}) or an int8 one ({@code p.SCB}). */
    private static List<String> quantizedPaths(Set<String> names) {
        List<String> out = new ArrayList<>();
        for (String n : names) {
            int i = n.indexOf(QUANT_STATE);
            if (i > 0) {
                out.add(n.substring(0, i));
            } else if (n.endsWith(".SCB")) {
                out.add(n.substring(0, n.length() - ".SCB".length()));
            }
        }
        return out;
    }

    private static boolean isQuantizedExtra(String name, Set<String> paths) {
        for (String p : paths) {
            if (name.startsWith(p + ".weight.") || name.equals(p + ".SCB")) {
                return true;
            }
        }
        return false;
    }

    private static QuantizedWeight read(SafetensorsWeights file, String path) {
        Map<String, INDArray> tensors = new LinkedHashMap<>();
        String prefix = path + ".";
        for (String n : file.names()) {
            if (n.startsWith(prefix + "weight") || n.equals(prefix + "SCB")) {
                tensors.put(n.substring(prefix.length()), file.read(n));
            }
        }
        return tensors.containsKey("SCB") ? RowwiseInt8.fromTensors(tensors, path) : Blockwise4Bit.fromTensors(tensors, path);
    }
}
