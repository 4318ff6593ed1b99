#!/usr/bin/env python3
"""LoRA-family adapters made by the real HF PEFT, for peft4j's interop test (HF -> peft4j).

Every case wraps one of peft4j's tiny HF checkpoints (peft-core/src/test/resources/reference/<base>, made by
reference_decoders.py) with HF transformers' AutoModelForCausalLM and HF PEFT's get_peft_model, gives the adapter
deterministic non-trivial weights, saves it with HF's own save_pretrained (adapter_config.json +
adapter_model.safetensors, exactly what HF writes), and writes expected.json beside it:

  base            the reference checkpoint directory name the adapter belongs to
  input_ids       a padded batch: row 0 right-padded, row 1 left-padded (the same ids as the base's expected.json)
  attention_mask  1 for real tokens; only those positions carry HF's meaning and are compared
  logits          HF PeftModel forward in float32, eval mode, [batch][seq][vocab]
  merged_logits   the same forward after merge_and_unload()
  base_logits     the base model alone (so a test can check that the adapter changes the output)
  base_logits_f64, logits_f64, merged_logits_f64
                  the same in float64: the base, and the saved files reloaded by PeftModel.from_pretrained on a
                  float64 base (float32 rounding alone moves HF's logits by up to 8e-6; float64 pins the
                  semantics down for GPT-2; HF's LLaMA and Qwen2 keep RMSNorm, the attention softmax and the rotary
                  cos/sin in float32 even in a float64 model, so there float64 is no more exact than float32)
  merge_probes    {module path: Δy} for every adapted module and modules_to_save copy, in float64: the module's
                  output after merge_and_unload minus the original module's, for the input x_i = sin(i + 1). This
                  pins the merged weights down exactly (scaling, rsLoRA, patterns, DoRA, AdaLoRA) for every
                  model, free of the float32 parts of HF's LLaMA
  versions        torch, transformers, peft

Cases (all eval-mode, dropout 0):
  gpt2-lora                GPT-2 LoRA on c_attn and c_fc (Conv1D, fan_in_fan_out=True), r 4, alpha 8
  gpt2-dora                GPT-2 DoRA on c_attn and c_proj (Conv1D), magnitudes moved off their init
  llama-lora               LLaMA (tied) LoRA on q_proj, v_proj, r 4, alpha 16
  llama-rslora-all-linear  LLaMA (untied, bf16 weights) target_modules="all-linear", use_rslora, r 8, alpha 8,
                           rank_pattern/alpha_pattern, modules_to_save=["lm_head"] (a trained copy of the head)
  llama-dora               LLaMA (tied) DoRA on q_proj, v_proj, down_proj, magnitudes moved off their init
  qwen2-lora               Qwen2 (GQA, biased k/v) LoRA on k_proj, v_proj with rank_pattern {"v_proj": 2}
  llama-adalora            LLaMA (tied) AdaLoRA on q_proj, v_proj, up_proj, init_r 4, target_r 3, trained for 10
                           steps with HF's own update_and_allocate after every optimizer step, so HF's RankAllocator
                           masks triplets and save_pretrained writes only the kept ones
                           (resize_state_dict_by_rank_pattern); expected.json adds "ranks"
  llama-adalora-rank0      the same with target_r 2: HF's allocator prunes some modules to rank 0, and HF saves them
                           as empty tensors (lora_A [0, in], lora_E [0, 1], lora_B [out, 0]) and loads them back

The LoRA/DoRA tensors are filled with seeded random values (torch.manual_seed per case) so that B != 0 and
the DoRA magnitude differs from ||W + s*B*A|| (otherwise DoRA would equal LoRA and a reader ignoring the
magnitude would pass).

Run (from the repository root; CI does not run Python, the outputs are committed; PYTHONHASHSEED fixes the order
of the target_modules set in adapter_config.json; scripts/hf-interop-lora.sh runs this and both directions):
    PYTHONHASHSEED=0 /tmp/hfenv/bin/python docs/scripts/hf_peft_lora_fixtures.py \
        peft-core/src/test/resources/reference examples/src/test/resources/hf-peft
Generated with torch 2.13.0+cpu, transformers 5.18.0, peft 0.21.0, safetensors, numpy on CPU. The output is
deterministic for a given torch version.
"""

import json
import os
import shutil
import sys

import numpy as np
import torch
import transformers
import peft
from peft import AdaLoraConfig, LoraConfig, PeftModel, get_peft_model
from transformers import AutoModelForCausalLM


def load_base(reference_root, base):
    return AutoModelForCausalLM.from_pretrained(os.path.join(reference_root, base), dtype=torch.float32).eval()


def batch_of(reference_root, base):
    expected = json.load(open(os.path.join(reference_root, base, "expected.json")))
    return torch.tensor(expected["input_ids"]), torch.tensor(expected["attention_mask"])


def logits(model, ids, mask):
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=mask).logits.float().numpy()


def as_json(array):
    """float32 values written with their shortest round-trip decimal, so that Java's Float.parseFloat gets them back exactly."""
    if array.ndim == 0:
        return float(str(np.float32(array)))
    return [as_json(a) for a in array]


def randomize(peft_model, seed):
    """Fills every trainable adapter tensor with seeded non-trivial values (B != 0, DoRA magnitudes off their init)."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if not p.requires_grad:
                continue
            if "lora_magnitude_vector" in name:
                p.add_(0.5 * torch.rand_like(p) - 0.1)      # m > 0 still; m/||W + sBA|| no longer 1
            elif "modules_to_save" in name:
                p.add_(0.1 * torch.randn_like(p))
            else:
                p.copy_(0.3 * torch.randn_like(p))


def float64_logits(reference_root, base, adapter_dir, ids, mask):
    """HF's logits in float64: the saved adapter reloaded by PeftModel.from_pretrained on a float64 base, unmerged and merged."""
    model = AutoModelForCausalLM.from_pretrained(os.path.join(reference_root, base), dtype=torch.float64).eval()
    with torch.no_grad():
        base_logits = model(input_ids=ids, attention_mask=mask).logits.numpy()
    reloaded = PeftModel.from_pretrained(model, adapter_dir).double().eval()
    with torch.no_grad():
        unmerged = reloaded(input_ids=ids, attention_mask=mask).logits.numpy()
    merged_model, probes = merge_with_probes(reloaded)
    with torch.no_grad():
        merged = merged_model(input_ids=ids, attention_mask=mask).logits.numpy()
    return base_logits, unmerged, merged, probes


def merge_with_probes(peft_model):
    """merge_and_unload(), and {module path: merged module(x) - original module(x)} for every adapted module and
    modules_to_save copy, with x_i = sin(i + 1) (float64 when the model is)."""
    with torch.no_grad():
        originals = {}
        for name, module in peft_model.base_model.model.named_modules():
            if hasattr(module, "get_base_layer") and module.get_base_layer() is not module:
                originals[name] = module.get_base_layer()
            elif hasattr(module, "original_module"):
                originals[name] = module.original_module
        before = {name: m(probe_input(m)).numpy() for name, m in originals.items()}
        merged_model = peft_model.merge_and_unload()
        probes = {name: (merged_model.get_submodule(name)(probe_input(m)).numpy() - before[name]).tolist()
                  for name, m in originals.items()}
    return merged_model, probes


def probe_input(layer):
    """The fixed input row x_i = sin(i + 1) for a Linear or Conv1D, in the layer's dtype: the probe of merge_probes."""
    width = layer.in_features if hasattr(layer, "in_features") else layer.weight.shape[0]
    return torch.sin(torch.arange(width, dtype=torch.float64) + 1).unsqueeze(0).to(layer.weight.dtype)


def save_case(reference_root, out_root, case, base, peft_model, ids, mask, base_logits, extra=None):
    out = os.path.join(out_root, case)
    if os.path.isdir(out):
        shutil.rmtree(out)
    peft_model.eval()
    peft_model.save_pretrained(out)
    os.remove(os.path.join(out, "README.md"))             # HF's model card template: nothing an adapter loader reads
    adapted = logits(peft_model, ids, mask)
    merged_model = peft_model.merge_and_unload()
    merged = logits(merged_model, ids, mask)
    base64, unmerged64, merged64, probes = float64_logits(reference_root, base, out, ids, mask)
    real = mask.numpy().astype(bool)
    change = np.abs(adapted - base_logits)[real].max()
    if change < 1e-2:
        raise RuntimeError(f"{case}: the adapter hardly changes the logits ({change})")
    expected = {
        "base": base,
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__},
        "input_ids": ids.tolist(),
        "attention_mask": mask.tolist(),
        "logits": as_json(adapted),
        "merged_logits": as_json(merged),
        "base_logits": as_json(base_logits),
        "base_logits_f64": base64.tolist(),
        "logits_f64": unmerged64.tolist(),
        "merged_logits_f64": merged64.tolist(),
        "merge_probes": probes,
    }
    if extra:
        expected.update(extra)
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f, separators=(",", ":"))
        f.write("\n")
    print(f"{case:24s} base {base:30s} max|adapter - base| {change:.3f}  max|merged - unmerged| "
          f"{np.abs(merged - adapted)[real].max():.2e}  max|f32 - f64| {np.abs(adapted - unmerged64)[real].max():.2e}"
          f" (merged {np.abs(merged - merged64)[real].max():.2e})")


def lora_case(reference_root, out_root, case, base, config, seed):
    torch.manual_seed(seed)                                  # get_peft_model's own init (the DoRA magnitude starts from it)
    model = load_base(reference_root, base)
    ids, mask = batch_of(reference_root, base)
    base_logits = logits(model, ids, mask)
    peft_model = get_peft_model(model, config)
    randomize(peft_model, seed)
    save_case(reference_root, out_root, case, base, peft_model, ids, mask, base_logits)


def adalora_case(reference_root, out_root, case, base, target_r, seed):
    torch.manual_seed(seed)
    model = load_base(reference_root, base)
    ids, mask = batch_of(reference_root, base)
    base_logits = logits(model, ids, mask)
    total_step = 10
    config = AdaLoraConfig(task_type="CAUSAL_LM", init_r=4, target_r=target_r, tinit=2, tfinal=3, deltaT=1, total_step=total_step,
                           lora_alpha=8, lora_dropout=0.0, orth_reg_weight=0.1, init_lora_weights=False,
                           target_modules=["q_proj", "v_proj", "up_proj"])
    peft_model = get_peft_model(model, config)
    vocab = model.config.vocab_size
    train_ids = torch.randint(0, vocab, (4, 8), generator=torch.Generator().manual_seed(seed))
    optimizer = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=0.02)
    peft_model.train()
    for step in range(total_step):
        loss = peft_model(input_ids=train_ids, labels=train_ids).loss
        loss.backward()
        optimizer.step()
        peft_model.base_model.update_and_allocate(step)     # HF's RankAllocator: scores, budget, masks
        optimizer.zero_grad()
    pattern = peft_model.peft_config["default"].rank_pattern
    ranks = {k: int(sum(v)) for k, v in pattern.items()}
    if all(r == config.init_r for r in ranks.values()):
        raise RuntimeError(f"{case}: nothing was masked: {ranks}")
    if any(r == 0 for r in ranks.values()) != case.endswith("rank0"):
        raise RuntimeError(f"{case}: a module at rank 0 is {'missing' if case.endswith('rank0') else 'unexpected'}: {ranks}")
    save_case(reference_root, out_root, case, base, peft_model, ids, mask, base_logits, {"ranks": ranks})


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: hf_peft_lora_fixtures.py REFERENCE_DIR OUT_DIR")
    reference_root, out_root = sys.argv[1], sys.argv[2]
    os.makedirs(out_root, exist_ok=True)
    torch.use_deterministic_algorithms(True)
    lora_case(reference_root, out_root, "gpt2-lora", "gpt2",
              LoraConfig(task_type="CAUSAL_LM", r=4, lora_alpha=8, target_modules=["c_attn", "c_fc"], fan_in_fan_out=True,
                         init_lora_weights=False), seed=1)
    lora_case(reference_root, out_root, "gpt2-dora", "gpt2",
              LoraConfig(task_type="CAUSAL_LM", r=4, lora_alpha=8, target_modules=["c_attn", "c_proj"], fan_in_fan_out=True,
                         use_dora=True, init_lora_weights=False), seed=2)
    lora_case(reference_root, out_root, "llama-lora", "llama-tied-theta10000",
              LoraConfig(task_type="CAUSAL_LM", r=4, lora_alpha=16, target_modules=["q_proj", "v_proj"], init_lora_weights=False),
              seed=3)
    lora_case(reference_root, out_root, "llama-rslora-all-linear", "llama-untied-theta500000-bf16",
              LoraConfig(task_type="CAUSAL_LM", r=8, lora_alpha=8, target_modules="all-linear", use_rslora=True,
                         rank_pattern={"down_proj": 2, "layers.1.self_attn.o_proj": 3}, alpha_pattern={"gate_proj": 5},
                         modules_to_save=["lm_head"], init_lora_weights=False), seed=4)
    lora_case(reference_root, out_root, "llama-dora", "llama-tied-theta10000",
              LoraConfig(task_type="CAUSAL_LM", r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"], use_dora=True,
                         init_lora_weights=False), seed=5)
    lora_case(reference_root, out_root, "qwen2-lora", "qwen2-tied-theta1000000-f16",
              LoraConfig(task_type="CAUSAL_LM", r=4, lora_alpha=8, target_modules=["k_proj", "v_proj"], rank_pattern={"v_proj": 2},
                         init_lora_weights=False), seed=6)
    adalora_case(reference_root, out_root, "llama-adalora", "llama-tied-theta10000", target_r=3, seed=7)
    adalora_case(reference_root, out_root, "llama-adalora-rank0", "llama-tied-theta10000", target_r=2, seed=7)


if __name__ == "__main__":
    main()
