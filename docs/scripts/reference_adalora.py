#!/usr/bin/env python3
"""Independent reference for peft4j's AdaLoRA: an adapter file in HF PEFT's layout and the logits it gives.

Written from a reading of HF PEFT's tuners/adalora (layer.py, model.py) and utils/save_and_load.py, not from
peft4j's code. It takes the small GPT-2 checkpoint of reference_decoders.py (peft-core's test resources
reference/gpt2), puts an AdaLoRA adapter (init_r 4, lora_alpha 6) on attn.c_attn and mlp.c_fc of both blocks,
masks some triplets with a rank_pattern, and writes what HF PEFT's save_pretrained writes after training:

  * adapter_config.json: peft_type "ADALORA", init_r, target_r, total_step, ..., rank_pattern mapping
    "<module path>.lora_E" to init_r booleans (True = kept);
  * adapter_model.safetensors: base_model.model.<path>.lora_A [r, in], .lora_E [r, 1], .lora_B [out, r] with
    no ".weight" suffix and only the kept triplets (HF's resize_state_dict_by_rank_pattern);
  * expected.json: the logits of the adapted model on two padded sequences, and the orthogonal regularizer.

Semantics reproduced: SVDLinear's output is base(x) + (x @ (A * E).T @ B.T) * lora_alpha / (ranknum + 1e-5) with
ranknum = init_r even after loading fewer triplets (resize_modules_by_rank_pattern copies ranknum back); GPT-2's
Conv1D stores W as [in, out], so the merged weight is W + (B @ (A * E)).T * scaling (fan_in_fan_out); the
orthogonal regularizer is orth_reg_weight * mean over every lora_A and lora_B of the (unsquared) Frobenius norm
of A A^T - I and B^T B - I. The logits are computed in float64 with the merged weights, which is the same
linear map as the unmerged adapter branch.

Regenerate (from the repository root; CI does not run Python):
    /usr/bin/python3 docs/scripts/reference_adalora.py peft-core/src/test/resources/reference/gpt2 \
        peft-lora/src/test/resources/adalora-reference
Generated with Debian's python3-torch 1.13.1 (torch.__version__ "1.13.0a0") on CPU, numpy 1.24.2.
"""

import json
import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference_decoders import gpt2_forward, write_safetensors  # noqa: E402

INIT_R = 4
ALPHA = 6.0
ORTH_REG_WEIGHT = 0.5
KEPT = {  # which triplets the (imagined) training kept, per module
    "transformer.h.0.attn.c_attn": [True, False, True, True],
    "transformer.h.0.mlp.c_fc": [False, True, False, False],
    "transformer.h.1.attn.c_attn": [True, True, True, True],
    "transformer.h.1.mlp.c_fc": [False, False, True, True],
}


def read_safetensors(path):
    """{name: float64 tensor} of a safetensors file with F32 tensors."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] != "F32":
            raise ValueError("expected F32 tensors, got %s for %s" % (info["dtype"], name))
        a, b = info["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[a:b], dtype="<f4").reshape(info["shape"]).copy()).double()
    return out


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: reference_adalora.py GPT2_REFERENCE_DIR OUTPUT_DIR")
    base_dir, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(base_dir, "config.json")) as f:
        cfg = json.load(f)
    with open(os.path.join(base_dir, "expected.json")) as f:
        base_expected = json.load(f)
    stored = read_safetensors(os.path.join(base_dir, "model.safetensors"))
    w = {("transformer." + k): v for k, v in stored.items() if not k.endswith(".attn.bias")}

    gen = torch.Generator().manual_seed(7)
    tensors = {}
    rank_pattern = {}
    scaling = ALPHA / (INIT_R + 1e-5)
    orth = []
    for path, kept in KEPT.items():
        W = w[path + ".weight"]                       # Conv1D: [in, out]
        d_in, d_out = W.shape
        A = torch.randn(INIT_R, d_in, generator=gen, dtype=torch.float32) * 0.3
        E = torch.randn(INIT_R, 1, generator=gen, dtype=torch.float32)
        B = torch.randn(d_out, INIT_R, generator=gen, dtype=torch.float32) * 0.3
        idx = torch.tensor(kept)
        A, E, B = A[idx], E[idx], B[:, idx]          # only the kept triplets are saved
        key = "base_model.model." + path
        tensors[key + ".lora_A"] = A.contiguous()
        tensors[key + ".lora_E"] = E.contiguous()
        tensors[key + ".lora_B"] = B.contiguous()
        rank_pattern[path + ".lora_E"] = kept
        A64, E64, B64 = A.double(), E.double(), B.double()
        w[path + ".weight"] = W + (B64 @ (A64 * E64)).T * scaling
        orth.append(torch.linalg.norm(A64 @ A64.T - torch.eye(A64.shape[0], dtype=torch.float64)).item())
        orth.append(torch.linalg.norm(B64.T @ B64 - torch.eye(B64.shape[1], dtype=torch.float64)).item())
    write_safetensors(os.path.join(out, "adapter_model.safetensors"), tensors)

    config = {
        "peft_type": "ADALORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": None, "revision": None,
        "auto_mapping": None, "inference_mode": True, "r": 8, "lora_alpha": ALPHA, "lora_dropout": 0.0,
        "target_modules": ["c_fc", "c_attn"], "exclude_modules": None, "fan_in_fan_out": True, "bias": "none",
        "use_rslora": False, "modules_to_save": None, "init_lora_weights": True, "layers_to_transform": None,
        "layers_pattern": None, "alpha_pattern": {}, "megatron_config": None, "megatron_core": "megatron.core",
        "loftq_config": {}, "use_dora": False, "layer_replication": None, "lora_bias": False,
        "target_r": 2, "init_r": INIT_R, "tinit": 2, "tfinal": 3, "deltaT": 1, "beta1": 0.85, "beta2": 0.85,
        "orth_reg_weight": ORTH_REG_WEIGHT, "total_step": 20, "rank_pattern": rank_pattern,
    }
    with open(os.path.join(out, "adapter_config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")

    ids = torch.tensor(base_expected["input_ids"])
    mask = torch.tensor(base_expected["attention_mask"])
    with torch.no_grad():
        logits = gpt2_forward(cfg, w, ids, mask)
    expected = {
        "description": "logits of GPT-2 reference/gpt2 with the AdaLoRA adapter in this directory, by docs/scripts/reference_adalora.py",
        "torch_version": torch.__version__,
        "input_ids": ids.tolist(),
        "attention_mask": mask.tolist(),
        "scaling": scaling,
        "orth_reg": ORTH_REG_WEIGHT * sum(orth) / len(orth),
        "merged": {path + ".weight": [[float("%.9g" % v) for v in row] for row in w[path + ".weight"].tolist()] for path in KEPT},
        "logits": [[[float("%.9g" % v) for v in row] for row in seq] for seq in logits.tolist()],
    }
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f, separators=(",", ":"))
        f.write("\n")
    print("adalora reference: ranks %s, logits %s, orth_reg %.6f" % ({k: sum(v) for k, v in KEPT.items()}, list(logits.shape),
                                                                   expected["orth_reg"]))


if __name__ == "__main__":
    main()
