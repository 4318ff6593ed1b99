#!/usr/bin/env python3
"""peft4j -> HF PEFT: loads adapters and merged models written by peft4j with the real HF libraries.

Input: the directory Peft4jAdaptersForHfExport (examples module, a test run only when -Dpeft4j.hfInteropOut=DIR is
given) writes; scripts/hf-interop-lora.sh makes it and runs this script. Each subdirectory is either
  * an adapter (adapter_config.json + adapter_model.safetensors, saved by peft4j's PeftModel.save) with peft4j.json:
    the tiny reference checkpoint it belongs to ("base"), a padded batch, and peft4j's logits: "logits" and
    "merged_logits" in float32, "logits_f64" and "merged_logits_f64" in float64. This script loads the base with
    AutoModelForCausalLM, the adapter with PeftModel.from_pretrained, runs the batch, then merge_and_unload() and
    runs it again, in float32 and in float64, and in float64 compares the merged-module probes: for every adapted
    module and modules_to_save copy, merged module(x) - original module(x) for x_i = sin(i + 1), bound
    1e-11*(1 + |HF|), which pins each merged weight down exactly; or
  * a merged model (merged-NAME: config.json + model.safetensors, written by `peft4j merge`) with peft4j.json holding
    the logits peft4j computes from that checkpoint; it is loaded with AutoModelForCausalLM.from_pretrained alone.

It prints one row per check with max |peft4j - HF| over the real (unpadded) tokens and exits 1 if any is above its
bound: float32 2e-5 + 1e-5*|HF| (both sides round independently; HF's own float32 logits differ from its float64
ones by up to ~1e-5 here); float64 1e-9 for GPT-2, and the float32 bound for LLaMA and Qwen2, whose HF code keeps
RMSNorm, the attention softmax and the rotary cos/sin in float32 even in a float64 model.

Run with the HF environment: /tmp/hfenv/bin/python (torch 2.13.0+cpu, transformers 5.18.0, peft 0.21.0):
    /tmp/hfenv/bin/python docs/scripts/hf_peft_check_peft4j_adapters.py DIR
"""

import json
import os
import sys
import warnings

import numpy as np
import torch
import transformers
import peft
from peft import PeftModel
from transformers import AutoModelForCausalLM

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hf_peft_lora_fixtures import merge_with_probes  # noqa: E402  (the same probes as the fixtures)

F32_ABS, F32_REL = 2e-5, 1e-5


def run(model, ids, mask):
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=mask).logits.numpy().astype(np.float64)


def worst(ours, theirs, real, abs_tol, rel_tol):
    ours = np.asarray(ours, dtype=np.float64)
    diff = np.abs(ours - theirs)[real]
    bound = abs_tol + rel_tol * np.abs(theirs)[real]
    return float(diff.max()), bool((diff <= bound).all())


def probe_worst(ours, theirs):
    """max |Δy| difference over the merged-module probes; both sides must name the same modules; bound 1e-11*(1 + |HF|)."""
    if sorted(ours) != sorted(theirs):
        print(f"modules differ: peft4j {sorted(ours)}, HF {sorted(theirs)}", file=sys.stderr)
        return float("inf"), False
    diff, ok = 0.0, True
    for name, hf in theirs.items():
        a, b = np.asarray(ours[name], dtype=np.float64), np.asarray(hf, dtype=np.float64)
        if a.shape != b.shape:
            print(f"{name}: peft4j probe {a.shape}, HF {b.shape}", file=sys.stderr)
            return float("inf"), False
        d = np.abs(a - b)
        diff, ok = max(diff, float(d.max(initial=0.0))), ok and bool((d <= 1e-11 * (1 + np.abs(b))).all())
    return diff, ok


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: hf_peft_check_peft4j_adapters.py DIR (written by Peft4jAdaptersForHfExport)")
    root = sys.argv[1]
    warnings.filterwarnings("ignore")
    transformers.logging.set_verbosity_error()
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, peft {peft.__version__}")
    rows = []
    for case in sorted(os.listdir(root)):
        d = os.path.join(root, case)
        own = json.load(open(os.path.join(d, "peft4j.json")))
        ids, mask = torch.tensor(own["input_ids"]), torch.tensor(own["attention_mask"])
        real = mask.numpy().astype(bool)
        if os.path.isfile(os.path.join(d, "adapter_config.json")):
            config = json.load(open(os.path.join(d, "adapter_config.json")))
            exact64 = json.load(open(os.path.join(own["base"], "config.json")))["model_type"] == "gpt2"
            for dtype, suffix, abs_tol, rel_tol in ((torch.float32, "", F32_ABS, F32_REL),
                                                    (torch.float64, "_f64", 1e-9 if exact64 else F32_ABS, 0.0 if exact64 else F32_REL)):
                base = AutoModelForCausalLM.from_pretrained(own["base"], dtype=dtype).eval()
                model = PeftModel.from_pretrained(base, d).to(dtype).eval()
                if config["peft_type"] == "ADALORA":
                    ranks = {n: int(sum(v)) for n, v in config["rank_pattern"].items()}
                    for n, r in ranks.items():
                        module = model.base_model.model.get_submodule(n[: -len(".lora_E")])
                        assert module.lora_A["default"].shape[0] == r, (n, module.lora_A["default"].shape, r)
                unmerged = run(model, ids, mask)
                merged_model, probes = merge_with_probes(model)
                merged = run(merged_model, ids, mask)
                name = "float32" if dtype == torch.float32 else "float64"
                rows.append((case, f"PeftModel.from_pretrained, {name}",) + worst(own["logits" + suffix], unmerged, real, abs_tol, rel_tol))
                rows.append((case, f"merge_and_unload, {name}",) + worst(own["merged_logits" + suffix], merged, real, abs_tol, rel_tol))
                if dtype == torch.float64:
                    rows.append((case, "merged-module probes, float64",) + probe_worst(own["merge_probes"], probes))
        else:
            model = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32).eval()
            rows.append((case, "AutoModelForCausalLM.from_pretrained, float32",) + worst(own["logits"], run(model, ids, mask), real, F32_ABS, F32_REL))
    print()
    print("| case | HF loads it with | max abs difference | within bound |")
    print("|---|---|---|---|")
    for case, how, diff, ok in rows:
        print(f"| {case} | {how} | {diff:.2e} | {'yes' if ok else 'NO'} |")
    bad = [r for r in rows if not r[3]]
    if bad:
        print(f"\n{len(bad)} check(s) out of bounds", file=sys.stderr)
        sys.exit(1)
    print(f"\nall {len(rows)} checks within bounds")


if __name__ == "__main__":
    main()
