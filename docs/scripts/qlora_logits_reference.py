#!/usr/bin/env python3
"""Independent logits reference for `peft4j logits --quantize nf4 --double-quant false` (issue 6).

transformers runs each tiny reference checkpoint (peft-core/src/test/resources/reference/) with every
Linear (GPT-2: Conv1D) of its transformer blocks replaced by its bitsandbytes NF4 round trip: the weight in
HF's storage order, row-major [out, in] (GPT-2's Conv1D [in, out] transposed first, as transformers'
bitsandbytes integration does), quantized in blocks of 64 and dequantized by bnb_quant_reference.py
(bitsandbytes' semantics, itself checked by QuantFixtureTest). Embeddings, norms, biases and the tied output
head stay float32, as transformers leaves them. The logits go to
peft-quant/src/test/resources/quant/qlora_logits.json, which QLoraLogitsReferenceTest compares with
peft4j's NF4 model.

    <python with torch and transformers> docs/scripts/qlora_logits_reference.py
Made with torch 2.13.0+cpu and transformers 5.18.0 (a venv from this machine's wheel mirror).
"""
import json
import os
import sys

import numpy as np
import torch
from transformers import AutoModelForCausalLM
from transformers.pytorch_utils import Conv1D

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bnb_quant_reference import quantize_4bit  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(HERE))
MODELS = ["gpt2", "llama-tied-theta10000", "qwen2-tied-theta1000000-f16"]
INPUT_IDS = [[3, 14, 15, 9, 26, 5, 35, 8], [7, 1, 44, 2, 11, 30, 12, 40]]


def nf4_round_trip(weight):
    """bitsandbytes' NF4 (blocks of 64, no double quantization) quantize + dequantize of an [out, in] weight."""
    w = weight.detach().to(torch.float32).numpy()
    back = quantize_4bit(w, "nf4", 64, False)["dequant"]
    return torch.from_numpy(back.reshape(w.shape))


def quantize_blocks(model):
    """Every Linear / Conv1D inside the transformer blocks, as transformers' bitsandbytes integration picks them."""
    names = []
    for name, module in model.named_modules():
        if ".layers." not in name and ".h." not in name:
            continue                                     # embeddings and the output head stay float32
        if isinstance(module, torch.nn.Linear):
            module.weight.data = nf4_round_trip(module.weight)
        elif isinstance(module, Conv1D):                 # weight [in, out]: quantized as [out, in]
            module.weight.data = nf4_round_trip(module.weight.T).T.contiguous()
        else:
            continue
        names.append(name)
    return names


def main():
    out = {"description": __doc__.strip().splitlines()[0], "torch_version": torch.__version__, "input_ids": INPUT_IDS, "models": {}}
    for name in MODELS:
        model = AutoModelForCausalLM.from_pretrained(os.path.join(ROOT, "peft-core/src/test/resources/reference", name),
                                                     dtype=torch.float32)
        model.eval()
        quantized = quantize_blocks(model)
        with torch.no_grad():
            logits = model(torch.tensor(INPUT_IDS)).logits
        out["models"][name] = {"quantized": quantized, "shape": list(logits.shape),
                               "logits": [float(v) for v in logits.reshape(-1).tolist()]}
        print(f"{name}: {len(quantized)} block Linears quantized, logits {list(logits.shape)}")
    path = os.path.join(ROOT, "peft-quant/src/test/resources/quant/qlora_logits.json")
    with open(path, "w") as f:
        json.dump(out, f)
    print("wrote", path)


if __name__ == "__main__":
    main()
