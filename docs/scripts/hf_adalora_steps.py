#!/usr/bin/env python3
"""AdaLoRA training dynamics of the real HF PEFT, step by step, as a fixture for peft4j's AdaLoraHfStepsTest.

Runs HF PEFT's AdaLoRA (get_peft_model with an AdaLoraConfig, the library's own SVDLinear, orthogonal regularizer
and RankAllocator) on the small GPT-2 checkpoint of reference_decoders.py (peft-core's test resources
reference/gpt2; attn.c_attn and mlp.c_fc of both blocks, 4 modules) and records what peft4j must reproduce:

  * adapter_config.json, adapter_model.safetensors: the INITIAL adapter, written by HF's save_pretrained before
    the first step (A and B as HF initialises them, N(0, 0.02); E, which HF initialises to 0, set to seeded
    N(0, 1) values so that the first steps already move every triplet; all in float32, exactly representable);
  * steps.json: the batch, the hyper-parameters and, per optimizer step t (HF's 0-based global_step), the loss
    HF's forward returns (task loss plus orth_reg_weight times the regularizer, as AdaLoraModel.forward adds it),
    the task loss alone, the budget of RankAllocator.budget_schedule(t), whether the triplets were (re)allocated,
    every module's triplet scores (Ī·Ū of λ plus the means over its row of A and its column of B, from the
    allocator's exp_avg_ipt and exp_avg_unc), the rank_pattern in the config, which λ are 0 and all λ values;
  * final.safetensors: every module's A, E and B after the last step (float64, all init_r triplets);
  * clip-accum/adapter_config.json, steps.json, final.safetensors: the same from the same initial tensors, with
    deltaT 2 (re-allocation every second step), two micro-batches per step (each forward's loss, regularizer included, divided by 2 before its backward) and
    torch.nn.utils.clip_grad_norm_ to 0.05 (below every step's gradient norm) before optimizer.step();
  * rank0/adapter_config.json and steps.json: the first run's initial tensors with target_r 1, where
    HF's allocation at step 4 masks every triplet of one module (peft4j deliberately keeps each module's best
    triplet; AdaLoraHfStepsTest checks the steps before and exactly that difference at step 4).

The training loop is HF's documented one: loss = model(input_ids, labels=input_ids).loss; loss.backward();
optimizer.step(); model.base_model.update_and_allocate(t); optimizer.zero_grad(), with torch.optim.SGD (lr 0.5, no
momentum, no weight decay, no clipping in the first run) on fixed batches without padding (labels = ids), for
total_step steps. Each step also records the gradient norm over A, E and B before clipping.

Precision: everything runs in float64 (the base weights are float32 in the file, widened exactly; the adapter is
created in float32 and widened). GPT-2's modelling code has no float32 casts with eager attention, but
transformers' ForCausalLMLoss casts the logits to float32 (logits.float()); this script therefore sets the
model's loss_function to the same loss (labels shifted by one, mean cross entropy over positions whose label is
not -100) in the logits' own dtype, so that the loss and every gradient stay float64. The script checks that
this loss equals transformers' own within float32 rounding.

Regenerate (from the repository root; needs torch, transformers, peft, safetensors; CI does not run Python):
    /tmp/hfenv/bin/python docs/scripts/hf_adalora_steps.py peft-core/src/test/resources/reference/gpt2 \
        peft-lora/src/test/resources/adalora-hf-steps
Generated with torch 2.13.0+cpu, transformers 5.18.0, peft 0.21.0, safetensors 0.8.0, numpy 2.4.6 (Python 3.11).
"""

import json
import os
import sys

import torch
import transformers
import peft
from peft import AdaLoraConfig, get_peft_model
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM

TARGETS = ["c_attn", "c_fc"]
HYPER = {"init_r": 4, "target_r": 2, "tinit": 1, "tfinal": 2, "deltaT": 1, "total_step": 10, "beta1": 0.85, "beta2": 0.85,
         "orth_reg_weight": 0.5, "lora_alpha": 8, "lora_dropout": 0.0}
LR = 0.5
SEED = 11
CLIP = 0.05
BATCH, SEQ = 2, 8
PREFIX = "base_model.model."


def causal_lm_loss(logits, labels, vocab_size, **kwargs):
    """transformers' ForCausalLMLoss without its cast to float32: shift by one, mean CE over labels != -100."""
    shift_logits = logits[:, :-1, :].reshape(-1, vocab_size)
    shift_labels = labels[:, 1:].reshape(-1)
    return torch.nn.functional.cross_entropy(shift_logits, shift_labels, ignore_index=-100, reduction="mean")


def modules(model):
    """{module path (without base_model.model.): (A, E, B)} of the adapter "default", in the model's order."""
    out = {}
    for name, module in model.named_modules():
        if hasattr(module, "lora_E") and "default" in getattr(module, "lora_E", {}):
            out[name[len(PREFIX):]] = (module.lora_A["default"], module.lora_E["default"], module.lora_B["default"])
    return out


def triplet_scores(allocator, model):
    """Per module the score of each triplet from the allocator's state: Ī·Ū of λ + mean over A's row + mean over B's column."""
    scores = {}
    for path in modules(model):
        def element(kind):
            key = path + "." + kind + ".default"              # the allocator names the inner model's params
            return allocator.exp_avg_ipt[key] * allocator.exp_avg_unc[key]
        s = element("lora_E").view(-1) + element("lora_A").mean(dim=1) + element("lora_B").mean(dim=0)
        scores[path] = s.tolist()
    return scores


def strip_pattern(pattern):
    """HF's rank_pattern keys ("base_model.model.<path>.lora_E.default") as saved files have them ("<path>.lora_E")."""
    if pattern is None:
        return None
    out = {}
    for key, kept in pattern.items():
        key = key[len(PREFIX):] if key.startswith(PREFIX) else key
        key = key[: -len(".default")] if key.endswith(".default") else key
        out[key] = [bool(k) for k in kept]
    return out


def adapted_model(base_dir, hyper):
    """The base model in float32 with HF's AdaLoRA adapter (HF's init, then E seeded), the same on every call."""
    torch.manual_seed(SEED)
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32, attn_implementation="eager")
    config = AdaLoraConfig(task_type="CAUSAL_LM", target_modules=TARGETS, fan_in_fan_out=True, **hyper)
    model = get_peft_model(model, config)
    gen = torch.Generator().manual_seed(SEED + 1)
    with torch.no_grad():
        for path, (a, e, b) in modules(model).items():
            e.copy_(torch.randn(e.shape, generator=gen, dtype=torch.float32))    # HF inits E to 0: give the first steps signal
    return model


def train(model, hyper, batches, accumulation, max_grad_norm, out, rank0_allowed=False):
    """HF's loop in float64 over total_step steps, `accumulation` micro-batches each; writes steps.json and final.safetensors."""
    model = model.double()
    model.train()
    inner = model.base_model.model
    ids = batches[0]
    with torch.no_grad():                                                     # our float64 loss equals transformers' own
        hf_loss = inner(input_ids=ids, labels=ids).loss.item()
        inner.loss_function = causal_lm_loss
        own = inner(input_ids=ids, labels=ids).loss.item()
    if abs(own - hf_loss) > 1e-6 * abs(hf_loss):
        sys.exit("float64 loss %r differs from transformers' %r" % (own, hf_loss))
    task_losses = []

    def recording_loss(logits, labels, vocab_size, **kwargs):
        loss = causal_lm_loss(logits, labels, vocab_size)
        task_losses.append(loss.item())
        return loss

    inner.loss_function = recording_loss
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(trainable, lr=LR, momentum=0.0, weight_decay=0.0)
    allocator = model.base_model.rankallocator
    adalora = model.base_model.peft_config["default"]
    final_step = hyper["total_step"] - hyper["tfinal"]
    steps = []
    for t in range(hyper["total_step"]):
        loss_sum = 0.0
        task_sum = 0.0
        for micro in range(accumulation):
            ids = batches[(t * accumulation + micro) % len(batches)]
            loss = model(input_ids=ids, labels=ids).loss                    # the task loss plus orth_reg_weight · regularizer
            (loss / accumulation).backward()
            loss_sum += loss.item() / accumulation
            task_sum += task_losses[-1] / accumulation
        grad_norm = torch.sqrt(sum((p.grad ** 2).sum() for p in trainable)).item()
        if max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(trainable, max_grad_norm)
        optimizer.step()
        model.base_model.update_and_allocate(t)
        scores = triplet_scores(allocator, model) if t < final_step else None
        optimizer.zero_grad()
        budget, mask_ind = allocator.budget_schedule(t)
        pattern = strip_pattern(adalora.rank_pattern)
        mods = modules(model)
        steps.append({
            "step": t,
            "loss": loss_sum,
            "task_loss": task_sum,
            "grad_norm": grad_norm,
            "budget": budget,
            "allocated": (t < final_step and bool(mask_ind)) or t == final_step,   # after it HF re-applies the final pattern
            "scores": scores,
            "rank_pattern": pattern,
            "ranks": None if pattern is None else {k[: -len(".lora_E")]: sum(v) for k, v in pattern.items()},
            "e_zero": {path: (e.view(-1) == 0).tolist() for path, (a, e, b) in mods.items()},
            "e": {path: e.view(-1).tolist() for path, (a, e, b) in mods.items()},
        })
        if not rank0_allowed and pattern is not None and min(sum(v) for v in pattern.values()) == 0:
            sys.exit("step %d: HF left a module at rank 0 (%s); peft4j keeps every module's best triplet, pick other numbers" % (t, pattern))

    os.makedirs(out, exist_ok=True)
    final = {}
    for path, (a, e, b) in modules(model).items():
        for kind, p in (("lora_A", a), ("lora_E", e), ("lora_B", b)):
            final[PREFIX + path + "." + kind] = p.detach().to(torch.float64).contiguous()
    save_file(final, os.path.join(out, "final.safetensors"))
    record = {
        "description": "HF PEFT AdaLoRA training of reference/gpt2 step by step, by docs/scripts/hf_adalora_steps.py",
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__},
        "hyper": hyper, "lr": LR, "targets": TARGETS, "modules": list(modules(model)),
        "gradient_accumulation": accumulation, "max_grad_norm": max_grad_norm,
        "batches": [b.tolist() for b in batches],
        "init_budget": allocator.init_bgt, "target_budget": allocator.target_bgt,
        "steps": steps,
        "final_rank_pattern": strip_pattern(adalora.rank_pattern),
    }
    with open(os.path.join(out, "steps.json"), "w") as f:
        json.dump(record, f, indent=1)
        f.write("\n")
    print(out)
    for s in steps:
        print("step %d loss %.12f grad norm %.6f budget %d ranks %s" % (s["step"], s["loss"], s["grad_norm"], s["budget"], s["ranks"]))


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: hf_adalora_steps.py GPT2_REFERENCE_DIR OUTPUT_DIR")
    base_dir, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    model = adapted_model(base_dir, HYPER)
    vocab = model.config.vocab_size
    ids = torch.randint(0, vocab, (BATCH, SEQ), generator=torch.Generator().manual_seed(SEED))
    other = torch.randint(0, vocab, (BATCH, SEQ), generator=torch.Generator().manual_seed(SEED + 2))
    model.save_pretrained(out)                                                # the initial adapter, float32
    if os.path.exists(os.path.join(out, "README.md")):                     # save_pretrained's model card: not needed
        os.remove(os.path.join(out, "README.md"))
    train(model, HYPER, [ids], 1, None, out)
    # the same initial tensors, re-allocated every 2 steps, two micro-batches per step and clipping active at every step
    every2 = dict(HYPER, deltaT=2)
    model = adapted_model(base_dir, every2)
    train(model, every2, [ids, other], 2, CLIP, os.path.join(out, "clip-accum"))
    save_initial_config(model, os.path.join(out, "clip-accum"))
    # the same initial tensors with target_r 1: HF masks every triplet of a module at step 4 (peft4j keeps its best)
    rank0 = dict(HYPER, target_r=1)
    model = adapted_model(base_dir, rank0)
    rank0_dir = os.path.join(out, "rank0")
    train(model, rank0, [ids], 1, None, rank0_dir, rank0_allowed=True)
    os.remove(os.path.join(rank0_dir, "final.safetensors"))                  # the test stops at step 4
    save_initial_config(model, rank0_dir)


def save_initial_config(model, out):
    """The adapter_config.json save_pretrained wrote before training, for a variant that shares the initial tensors."""
    config = model.peft_config["default"]
    config.rank_pattern = None
    config.inference_mode = True
    config.save_pretrained(out)


if __name__ == "__main__":
    main()
