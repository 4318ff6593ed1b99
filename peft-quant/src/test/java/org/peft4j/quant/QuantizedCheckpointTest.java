package org.peft4j.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.peft4j.core.io.SafetensorsWeights;
import org.peft4j.core.kernel.KernelChoice;
import org.peft4j.core.model.HfCheckpoint;
import org.peft4j.core.model.LoadOptions;
import org.peft4j.core.model.ModelHead;
import org.peft4j.core.model.PretrainedModel;
import org.peft4j.core.model.TokenBatch;
import org.peft4j.core.model.gpt2.Gpt2Model;
import org.peft4j.core.nn.ModuleTree;
import org.peft4j.core.nn.Tape;
import org.peft4j.core.testing.TinyModels;

/** Saving a quantized base in bitsandbytes' packed layout and loading it back gives the same model, bit for bit. */
class QuantizedCheckpointTest {
    private static INDArray logits(PretrainedModel model) {
        TokenBatch batch = TinyModels.paddedBatch();
        try (Tape t = Tape.inference(KernelChoice.CPU.resolve())) {
            return ((Gpt2Model) model).forward(batch, null, t).dup();
        }
    }

    @Test
    void packedCheckpointsRoundTrip(@TempDir Path dir) throws Exception {
        for (Quantization q : new Quantization[] {Quantization.qlora(), Quantization.of(QuantType.FP4, false), Quantization.of(QuantType.INT8, false)}) {
            Gpt2Model gpt2 = TinyModels.gpt2(TinyModels.tinyGpt2(), 5, DataType.FLOAT, KernelChoice.AUTO);
            q.apply(gpt2);
            INDArray before = logits(gpt2);
            Path out = dir.resolve(q.type() + "-" + q.doubleQuant());
            QuantizedCheckpoint.save(gpt2, out, q);
            assertTrue(QuantizedCheckpoint.isQuantized(out));
            assertEquals(q.type().fourBit(), HfCheckpoint.readConfig(out).path("quantization_config").path("load_in_4bit").asBoolean());
            try (SafetensorsWeights w = SafetensorsWeights.open(HfCheckpoint.findWeights(out))) {
                Set<String> names = w.names();
                String p = "transformer.h.1.mlp.c_fc.";
                if (q.type().fourBit()) {
                    assertTrue(names.contains(p + "weight.quant_state.bitsandbytes__" + q.type().bnbName()), names.toString());
                    assertTrue(names.contains(p + "weight.absmax") && names.contains(p + "weight.quant_map"));
                    assertEquals(q.doubleQuant(), names.contains(p + "weight.nested_absmax"));
                    assertEquals(DataType.UINT8, w.read(p + "weight").dataType());
                    assertEquals(8 * 16 / 2, w.read(p + "weight").length(), "c_fc [16, 8] packed two per byte");
                } else {
                    assertEquals(DataType.INT8, w.read(p + "weight").dataType());
                    assertTrue(names.contains(p + "SCB"));
                }
                assertEquals(DataType.FLOAT, w.read("transformer.wte.weight").dataType(), "embeddings stay float");
            }
            PretrainedModel loaded = QuantizedCheckpoint.load(out, LoadOptions.of(ModelHead.CAUSAL_LM));
            assertTrue(ModuleTree.get(loaded.module(), "transformer.h.0.attn.c_attn") instanceof QuantizedLinear);
            assertEquals(before, logits(loaded), q + ": the reloaded model computes the same logits");
        }
    }
}
