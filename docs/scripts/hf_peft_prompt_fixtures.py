#!/usr/bin/env python3
"""Prompt-learning adapters made by the real HF PEFT, for peft4j's HfPeftPromptFixturesTest (direction HF -> peft4j).

For each tiny base checkpoint of peft-core/src/test/resources/reference (GPT-2, LLaMA with grouped-query attention,
Qwen2 with grouped-query attention and q/k/v biases), and a tiny seeded random BertForSequenceClassification written
here (bert-base/: 3 labels, task SEQ_CLS, the classifier trained as a module to save), and each prompt-learning
method, this script creates the adapter
with the `peft` library itself (get_peft_model), gives its trainable tensors deterministic seeded random values,
saves it with save_pretrained, loads it back with PeftModel.from_pretrained (the path a user of HF PEFT takes) and
writes, beside adapter_config.json and adapter_model.safetensors, an expected.json with

  * input_ids and attention_mask of a batch of three sequences: one full, one padded on the right, one on the left;
  * logits: HF's float32 logits of the real tokens, [batch][tokens][vocab] (for Prompt Tuning and P-Tuning HF's
    output also has the virtual positions first; they are dropped), null where the value is not finite; for BERT the
    label logits [batch][labels] (BertPooler reads the first row: the first virtual token, or [CLS] under a prefix);
  * generate (causal LMs): a prompt (text of the fixture tokenizer and its ids) and the ids HF's model.generate produces
    greedily after it (do_sample=False).

Cases: prompt-random (PROMPT_TUNING, RANDOM init), prompt-text (PROMPT_TUNING, TEXT init through the fixture
tokenizer; its table is HF's init, not overwritten, so that peft4j's TEXT init can be compared with it),
ptuning-mlp and ptuning-lstm (P_TUNING with the MLP and the bidirectional-LSTM encoder), prefix-projection
(PREFIX_TUNING with prefix_projection) and ptuning-v2 (PREFIX_TUNING without projection).

The fixture tokenizer (tokenizer/tokenizer.json + tokenizer_config.json) is a word-level tokenizer made with the
`tokenizers` library: the words w0 ... w49 are the ids 0 ... 49, split on whitespace, no special tokens. HF's TEXT
init reads it through AutoTokenizer; peft4j reads the same tokenizer.json.

Regenerate (from the repository root; CI does not run Python, it reads the committed files):
    /tmp/hfenv/bin/python docs/scripts/hf_peft_prompt_fixtures.py examples/src/test/resources/hf-peft-prompt
Generated with torch 2.13.0+cpu, transformers 5.18.0, peft 0.21.0, tokenizers 0.23.2, safetensors, on CPU. The values
are deterministic for given versions (torch.Generator with fixed seeds).
"""

import json
import math
import os
import shutil
import sys
import warnings

import torch

warnings.filterwarnings("ignore")

import peft  # noqa: E402
import tokenizers  # noqa: E402
import transformers  # noqa: E402
from peft import (  # noqa: E402
    PeftModel,
    PrefixTuningConfig,
    PromptEncoderConfig,
    PromptTuningConfig,
    get_peft_model,
)
from transformers import AutoModelForCausalLM, BertConfig, BertForSequenceClassification  # noqa: E402

transformers.logging.set_verbosity_error()
transformers.utils.logging.disable_progress_bar()

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REFERENCE = os.path.join(ROOT, "peft-core", "src", "test", "resources", "reference")
BASES = {
    "gpt2": "gpt2",
    "llama": "llama-tied-theta10000",
    "qwen2": "qwen2-tied-theta1000000-f16",
    "bert": "bert-base",  # written by this script into OUT_DIR
}
BERT_LABELS = 3
WORDS = 50  # the fixture tokenizer's vocabulary: w0 ... w49 (fits GPT-2's 50 and LLaMA's / Qwen2's 64)
INPUT_IDS = [[7, 31, 2, 44, 19], [12, 5, 38, 0, 0], [0, 0, 23, 9, 41]]
ATTENTION_MASK = [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [0, 0, 1, 1, 1]]
PROMPT = "w3 w9 w4"
NEW_TOKENS = 4
TEXT_INIT = "w7 w21 w13"


def cases(tokenizer_dir, task_type):
    """name -> (config, whether the trainable tensors get seeded random values)."""
    common = dict(task_type=task_type)
    return {
        "prompt-random": (PromptTuningConfig(num_virtual_tokens=3, prompt_tuning_init="RANDOM", **common), True),
        "prompt-text": (PromptTuningConfig(num_virtual_tokens=4, prompt_tuning_init="TEXT", prompt_tuning_init_text=TEXT_INIT,
                                           tokenizer_name_or_path=tokenizer_dir, **common), False),
        "ptuning-mlp": (PromptEncoderConfig(num_virtual_tokens=3, encoder_reparameterization_type="MLP", encoder_hidden_size=8,
                                            **common), True),
        "ptuning-lstm": (PromptEncoderConfig(num_virtual_tokens=3, encoder_reparameterization_type="LSTM", encoder_hidden_size=6,
                                             encoder_num_layers=2, encoder_dropout=0.0, **common), True),
        "prefix-projection": (PrefixTuningConfig(num_virtual_tokens=4, prefix_projection=True, encoder_hidden_size=8, **common), True),
        "ptuning-v2": (PrefixTuningConfig(num_virtual_tokens=4, prefix_projection=False, **common), True),
    }


def write_tokenizer(out):
    """A word-level tokenizer.json (w0 ... w49, whitespace split) and the tokenizer_config.json AutoTokenizer needs."""
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import WhitespaceSplit

    os.makedirs(out, exist_ok=True)
    tok = Tokenizer(WordLevel({f"w{i}": i for i in range(WORDS)}, unk_token="w0"))
    tok.pre_tokenizer = WhitespaceSplit()
    tok.save(os.path.join(out, "tokenizer.json"))
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump({"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 64}, f, indent=1)
        f.write("\n")


def seed_trainables(model, seed):
    """Seeded random values for every trainable tensor: N(0, 1) tables, N(0, 1/fan_in) matrices, N(0, 0.3^2) vectors."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            if not p.requires_grad:
                continue
            if name.endswith("embedding.weight"):
                scale = 1.0
            elif p.dim() == 2:
                scale = 1.5 / math.sqrt(p.shape[1])
            else:
                scale = 0.3
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float32).to(p.dtype) * scale)


def write_bert(out):
    """A tiny seeded random BERT classifier (2 layers, hidden 16, 2 heads, 16 positions, vocabulary 50), HF's layout."""
    torch.manual_seed(5)
    config = BertConfig(vocab_size=WORDS, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                        max_position_embeddings=16, type_vocab_size=2, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                        num_labels=BERT_LABELS)
    model = BertForSequenceClassification(config)
    with torch.no_grad():  # layer norms and biases away from their 1 / 0 init, so that a mix-up would show
        for name, p in model.named_parameters():
            if p.dim() == 1:
                p.add_(torch.randn(p.shape) * 0.1)
    shutil.rmtree(out, ignore_errors=True)
    model.save_pretrained(out)
    with open(os.path.join(out, "labels.json"), "w") as f:  # peft4j's label set: the classifier's 3 outputs
        json.dump({"labels": list(range(BERT_LABELS))}, f)
        f.write("\n")


def base_dir(name, out):
    return os.path.join(out, BASES[name]) if name == "bert" else os.path.join(REFERENCE, BASES[name])


def load_base(name, out):
    if name == "bert":
        return BertForSequenceClassification.from_pretrained(base_dir(name, out), dtype=torch.float32).eval()
    return AutoModelForCausalLM.from_pretrained(base_dir(name, out), dtype=torch.float32).eval()


def real_logits(model, n_virtual, prepends):
    ids = torch.tensor(INPUT_IDS)
    mask = torch.tensor(ATTENTION_MASK)
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask).logits.float()
    if logits.dim() == 2:  # a sequence classifier: [batch, labels]
        return logits
    if prepends:
        assert logits.shape[1] == ids.shape[1] + n_virtual, logits.shape
        logits = logits[:, n_virtual:, :]
    assert logits.shape[1] == ids.shape[1], logits.shape
    return logits


def greedy(model, prompt_ids):
    with torch.no_grad():
        out = model.generate(input_ids=torch.tensor([prompt_ids]), attention_mask=torch.ones(1, len(prompt_ids), dtype=torch.long),
                             max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS, do_sample=False, pad_token_id=0)
    return out[0, -NEW_TOKENS:].tolist()


def number(x):
    return float(f"{x:.9g}") if math.isfinite(x) else None


def main(out):
    torch.manual_seed(0)
    tokenizer_dir = os.path.join(out, "tokenizer")
    write_tokenizer(tokenizer_dir)
    tokenizer = transformers.AutoTokenizer.from_pretrained(tokenizer_dir)
    prompt_ids = tokenizer(PROMPT)["input_ids"]
    assert prompt_ids == [3, 9, 4], prompt_ids
    write_bert(os.path.join(out, BASES["bert"]))
    seed = 1000
    for base in BASES:
        classifier = base == "bert"
        for case, (config, seeded) in cases(tokenizer_dir, "SEQ_CLS" if classifier else "CAUSAL_LM").items():
            seed += 1
            name = f"{base}-{case}"
            target = os.path.join(out, name)
            shutil.rmtree(target, ignore_errors=True)
            torch.manual_seed(seed)
            model = get_peft_model(load_base(base, out), config)
            if seeded:
                seed_trainables(model, seed)
            model.eval()
            n = model.active_peft_config.num_virtual_tokens
            prepends = model.active_peft_config.peft_type.value != "PREFIX_TUNING"
            in_memory = real_logits(model, n, prepends)
            model.save_pretrained(target)
            # the adapter as a user of HF PEFT loads it: the saved prompt_embeddings, inference_mode
            loaded = PeftModel.from_pretrained(load_base(base, out), target).eval()
            logits = real_logits(loaded, n, prepends)
            drift = (logits - in_memory).abs().max().item()
            assert drift < 1e-5, f"{name}: HF's reloaded adapter differs from the one it saved by {drift}"
            generated = None if classifier else greedy(loaded, prompt_ids)
            expected = {
                "description": "HF PEFT's outputs for the adapter in this directory; made by docs/scripts/hf_peft_prompt_fixtures.py",
                "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__,
                             "tokenizers": tokenizers.__version__},
                "base": BASES[base],
                "num_virtual_tokens": n,
                "input_ids": INPUT_IDS,
                "attention_mask": ATTENTION_MASK,
            }
            if classifier:
                expected["logits"] = [[number(v) for v in seq] for seq in logits.tolist()]
            else:
                expected["logits"] = [[[number(v) for v in row] for row in seq] for seq in logits.tolist()]
                expected["generate"] = {"prompt": PROMPT, "prompt_ids": prompt_ids, "new_ids": generated}
            with open(os.path.join(target, "expected.json"), "w") as f:
                json.dump(expected, f, separators=(",", ":"))
                f.write("\n")
            # paths relative to the repository root, not this machine's
            config_file = os.path.join(target, "adapter_config.json")
            with open(config_file) as f:
                saved = json.load(f)
            for key in ("base_model_name_or_path", "tokenizer_name_or_path"):
                if saved.get(key):
                    saved[key] = os.path.relpath(os.path.abspath(saved[key]), ROOT)
            with open(config_file, "w") as f:
                json.dump(saved, f, indent=2, sort_keys=True)
                f.write("\n")
            if classifier:  # peft4j loads a classification adapter with the label set it was trained for
                shutil.copy(os.path.join(base_dir(base, out), "labels.json"), os.path.join(target, "labels.json"))
            # README.md written by save_pretrained is a model card template: not needed here
            readme = os.path.join(target, "README.md")
            if os.path.exists(readme):
                os.remove(readme)
            print(f"{name:28s} {model.active_peft_config.peft_type.value:14s} reload drift {drift:.1e}  generate {generated}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: hf_peft_prompt_fixtures.py OUT_DIR   (e.g. examples/src/test/resources/hf-peft-prompt)")
    main(sys.argv[1])
