#!/usr/bin/env python3
"""Checks peft4j's prompt-learning adapters with the real HF PEFT, and peft4j's outputs for HF's adapters.

Run by scripts/hf-interop-prompt.sh, which fills WORK_DIR:

  WORK_DIR/ids.txt                 the token ids given to `peft4j logits --ids` ("1,2,3;4,5": the CLI pads on the right)
  WORK_DIR/peft4j-made/<case>/     an adapter trained by `peft4j train` (adapter_config.json, adapter_model.safetensors;
                                   for BERT a SEQ_CLS adapter with the classifier head under base_model.classifier.*),
                                   peft4j_logits.json (`peft4j logits --adapter`), on GPT-2 peft4j_generate.json
  WORK_DIR/hf-made/<case>/         an adapter made by HF PEFT (docs/scripts/hf_peft_prompt_fixtures.py) with HF's
                                   outputs in expected.json, and peft4j's in peft4j_logits.json / peft4j_generate.json

peft4j -> HF: each peft4j-made adapter is loaded with PeftModel.from_pretrained on the same base checkpoint; HF's
float32 logits of the real tokens (virtual positions dropped; a BERT classifier's label logits) are compared with
peft4j's at every unpadded token, and
HF's greedy model.generate with peft4j's `generate --adapter` ids. HF -> peft4j: peft4j's outputs for HF's adapters are
compared with HF's saved ones the same way. Prints one table row per case; exits 1 if any max |delta| exceeds
TOLERANCE or any generated ids differ.

Usage: /tmp/hfenv/bin/python docs/scripts/hf_peft_check_peft4j_prompts.py WORK_DIR
Written for torch 2.13.0+cpu, transformers 5.18.0, peft 0.21.0, tokenizers 0.23.2.
"""

import json
import os
import sys
import warnings

import torch

warnings.filterwarnings("ignore")

import peft  # noqa: E402
import transformers  # noqa: E402
from peft import PeftConfig, PeftModel  # noqa: E402
from transformers import AutoModelForCausalLM, BertForSequenceClassification  # noqa: E402

transformers.logging.set_verbosity_error()
transformers.utils.logging.disable_progress_bar()

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REFERENCE = os.path.join(ROOT, "peft-core", "src", "test", "resources", "reference")
BASES = {"gpt2": "gpt2", "llama": "llama-tied-theta10000", "qwen2": "qwen2-tied-theta1000000-f16"}
# the BERT classifier (SEQ_CLS) is written by hf_peft_prompt_fixtures.py into WORK_DIR/hf-made/bert-base
TOLERANCE = 2e-5  # as HfPeftPromptFixturesTest: float32 in another order of operations, measured <= 8.1e-6


def padded(ids_text):
    rows = [[int(t) for t in seq.split(",")] for seq in ids_text.strip().split(";")]
    longest = max(len(r) for r in rows)
    ids = [r + [0] * (longest - len(r)) for r in rows]
    mask = [[1] * len(r) + [0] * (longest - len(r)) for r in rows]
    return ids, mask


def base_of(case, work):
    family = case.split("-")[0]
    return os.path.join(work, "hf-made", "bert-base") if family == "bert" else os.path.join(REFERENCE, BASES[family])


def hf_outputs(case_dir, base, ids, mask, prompt_ids):
    """HF PEFT's logits of the real tokens [B, T, V] (a classifier's [B, labels]) for the adapter in case_dir, and its
    greedy ids after prompt_ids."""
    config = PeftConfig.from_pretrained(case_dir)
    auto = BertForSequenceClassification if config.task_type == "SEQ_CLS" else AutoModelForCausalLM
    model = PeftModel.from_pretrained(auto.from_pretrained(base, dtype=torch.float32), case_dir).eval()
    with torch.no_grad():
        logits = model(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask)).logits.float()
        if logits.dim() == 3 and config.peft_type.value != "PREFIX_TUNING":
            logits = logits[:, config.num_virtual_tokens:, :]
        generated = None
        if prompt_ids is not None:
            out = model.generate(input_ids=torch.tensor([prompt_ids]), attention_mask=torch.ones(1, len(prompt_ids), dtype=torch.long),
                                 max_new_tokens=4, min_new_tokens=4, do_sample=False, pad_token_id=0)
            generated = out[0, -4:].tolist()
    return config.peft_type.value, logits, generated


def peft4j_logits(case_dir):
    with open(os.path.join(case_dir, "peft4j_logits.json")) as f:
        printed = json.load(f)
    return torch.tensor(printed["data"], dtype=torch.float32).view(*printed["shape"])


def peft4j_generated(case_dir):
    path = os.path.join(case_dir, "peft4j_generate.json")
    if not os.path.exists(path):
        return None, None
    with open(path) as f:
        printed = json.load(f)
    return printed["prompt"], printed["ids"]


def max_delta(hf, ours, mask):
    if hf.dim() == 2:  # a classifier's label logits [B, labels]; the CLI prints [B, 1, labels]
        ours = ours.reshape(ours.shape[0], -1)
        return float("inf") if tuple(hf.shape) != tuple(ours.shape) else (hf - ours).abs().max().item()
    if tuple(hf.shape) != tuple(ours.shape):
        return float("inf")
    keep = torch.tensor(mask, dtype=torch.bool)
    return (hf - ours).abs()[keep].max().item()


def main(work):
    ids, mask = padded(open(os.path.join(work, "ids.txt")).read())
    tokenizer = transformers.AutoTokenizer.from_pretrained(os.path.join(work, "hf-made", "tokenizer"))
    rows = []
    for direction, sub in (("peft4j -> HF", "peft4j-made"), ("HF -> peft4j", "hf-made")):
        parent = os.path.join(work, sub)
        if not os.path.isdir(parent):
            continue
        for case in sorted(os.listdir(parent)):
            case_dir = os.path.join(parent, case)
            if not os.path.exists(os.path.join(case_dir, "peft4j_logits.json")):
                continue
            ours = peft4j_logits(case_dir)
            prompt, our_ids = peft4j_generated(case_dir)
            if sub == "peft4j-made":
                prompt_ids = tokenizer(prompt)["input_ids"] if prompt is not None else None
                peft_type, hf, hf_ids = hf_outputs(case_dir, base_of(case, work), ids, mask, prompt_ids)
            else:
                with open(os.path.join(case_dir, "expected.json")) as f:
                    expected = json.load(f)
                with open(os.path.join(case_dir, "adapter_config.json")) as f:
                    peft_type = json.load(f)["peft_type"]
                # the fixture's first two sequences are the CLI's: the second padded on the right to the same length
                assert expected["input_ids"][:2] == ids and expected["attention_mask"][:2] == mask, "fixture inputs differ from ids.txt"
                nan = float("nan")
                if "generate" in expected:
                    hf = torch.tensor([[[nan if v is None else v for v in row] for row in seq] for seq in expected["logits"][:2]])
                else:  # a classifier
                    hf = torch.tensor([[nan if v is None else v for v in seq] for seq in expected["logits"][:2]])
                hf_ids = expected["generate"]["new_ids"] if prompt is not None else None
                assert prompt is None or prompt == expected["generate"]["prompt"]
            delta = max_delta(hf, ours, mask)
            same_ids = None if our_ids is None else our_ids == hf_ids
            ok = delta <= TOLERANCE and same_ids is not False
            rows.append((direction, case, peft_type, delta, "-" if same_ids is None else ("equal" if same_ids else f"{our_ids} vs HF {hf_ids}"),
                         "ok" if ok else "MISMATCH"))
    if not rows:
        sys.exit(f"no cases with peft4j_logits.json under {work}")
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, peft {peft.__version__}; tolerance {TOLERANCE:g}")
    print("| direction | case | peft_type | max abs delta logits | greedy ids (4) | |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:.2e} | {r[4]} | {r[5]} |")
    bad = [r for r in rows if r[5] != "ok"]
    if bad:
        print(f"{len(bad)} of {len(rows)} cases differ", file=sys.stderr)
        sys.exit(1)
    print(f"all {len(rows)} cases agree")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: hf_peft_check_peft4j_prompts.py WORK_DIR   (filled by scripts/hf-interop-prompt.sh)")
    main(sys.argv[1])
