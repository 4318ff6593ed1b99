#!/usr/bin/env python3
"""Independent reference logits for peft4j's GPT-2 and LLaMA-style decoders.

A compact PyTorch re-implementation of the forward passes of HF transformers' GPT2LMHeadModel and
LlamaForCausalLM (and Qwen2ForCausalLM, which is LLaMA with biases on q, k and v), written from a reading
of HF's modeling_gpt2.py and modeling_llama.py. It builds small seeded random checkpoints, writes each as
an HF checkpoint directory (config.json + model.safetensors, the safetensors file written by hand: an
8-byte little-endian header length, the JSON header, then the raw little-endian tensor data) and an
expected.json holding the input ids, an attention mask with padding, and the logits this script computes.
peft4j's HfReferenceTest loads every directory with its model factories and compares the logits.

Semantics reproduced (the parts a re-implementation most easily gets wrong):
  * GPT-2: Conv1D weights are [in, out] (y = x @ W + b); gelu_new (tanh approximation); pre-LN blocks; learned
    positions arange(0, T) whatever the padding; the LM head is the token embedding (tied).
  * LLaMA: RMSNorm w * x / sqrt(mean(x^2) + eps); rotary embedding with HF's rotate_half convention (the two
    halves of each head, not interleaved pairs), inv_freq = 1 / theta^(arange(0, d, 2) / d) and the angles
    computed in float32 as HF does, positions arange(0, T); grouped-query attention (each kv head serves
    heads/kv_heads consecutive query heads, HF's repeat_kv); SwiGLU MLP down(silu(gate(x)) * up(x)).
  * Masks: a query sees key j if j <= its position and attention_mask[j] == 1 (hidden scores get the dtype's
    minimum, so a padding query that sees nothing gets uniform weights). Logits at padding positions are
    written too, but only rows with attention_mask == 1 carry HF's meaning; peft4j's test compares those.
  * The forward runs in float64 from the stored weights (float32, or float16/bfloat16 widened exactly).

Regenerate (from the repository root; CI does not run Python):
    /usr/bin/python3 docs/scripts/reference_decoders.py peft-core/src/test/resources/reference
Generated with Debian's python3-torch 1.13.1 (torch.__version__ "1.13.0a0") on CPU, numpy 1.24.2. The output
is deterministic for a given torch version (torch.manual_seed).
"""

import json
import math
import os
import struct
import sys

import torch

# ----------------------------------------------------------------------------------------------- safetensors

DTYPE_NAMES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}


def tensor_bytes(t):
    """The raw little-endian bytes of a contiguous tensor (bfloat16 via its 16-bit pattern)."""
    t = t.contiguous()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    data = t.numpy().tobytes()
    if sys.byteorder != "little":
        raise RuntimeError("this script writes little-endian data and assumes a little-endian machine")
    return data


def write_safetensors(path, tensors):
    """Writes {name: tensor} as safetensors: u64 LE header length, JSON header (space-padded to 8 bytes), data."""
    header = {"__metadata__": {"format": "pt"}}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        t = tensors[name]
        data = tensor_bytes(t)
        header[name] = {"dtype": DTYPE_NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


# ----------------------------------------------------------------------------------------------- shared pieces

def attention_allowed(mask):
    """[B, 1, T, T] booleans: query t may see key j if j <= t and key j is a real token."""
    B, T = mask.shape
    causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
    return causal[None, None, :, :] & mask.bool()[:, None, None, :]


def attend(q, k, v, allowed):
    """softmax(q k^T / sqrt(d) with hidden keys at the dtype's minimum) v, per head."""
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    scores = scores.masked_fill(~allowed, torch.finfo(scores.dtype).min)
    return torch.softmax(scores, dim=-1) @ v


def split_heads(x, heads):
    B, T, width = x.shape
    return x.view(B, T, heads, width // heads).transpose(1, 2)          # [B, heads, T, head_dim]


def merge_heads(x):
    B, H, T, hd = x.shape
    return x.transpose(1, 2).reshape(B, T, H * hd)


# ----------------------------------------------------------------------------------------------- GPT-2

def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def layer_norm(x, w, b, eps):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * w + b


def gpt2_forward(cfg, w, ids, mask):
    """GPT2LMHeadModel's logits; w holds float64 tensors by GPT2LMHeadModel's names."""
    d, H, eps = cfg["n_embd"], cfg["n_head"], cfg["layer_norm_epsilon"]
    T = ids.shape[1]
    h = w["transformer.wte.weight"][ids] + w["transformer.wpe.weight"][torch.arange(T)]
    allowed = attention_allowed(mask)
    for i in range(cfg["n_layer"]):
        p = "transformer.h.%d." % i
        x = layer_norm(h, w[p + "ln_1.weight"], w[p + "ln_1.bias"], eps)
        qkv = x @ w[p + "attn.c_attn.weight"] + w[p + "attn.c_attn.bias"]          # Conv1D: [in, out]
        q, k, v = qkv.split(d, dim=-1)
        a = merge_heads(attend(split_heads(q, H), split_heads(k, H), split_heads(v, H), allowed))
        h = h + a @ w[p + "attn.c_proj.weight"] + w[p + "attn.c_proj.bias"]
        x = layer_norm(h, w[p + "ln_2.weight"], w[p + "ln_2.bias"], eps)
        m = gelu_new(x @ w[p + "mlp.c_fc.weight"] + w[p + "mlp.c_fc.bias"])
        h = h + m @ w[p + "mlp.c_proj.weight"] + w[p + "mlp.c_proj.bias"]
    h = layer_norm(h, w["transformer.ln_f.weight"], w["transformer.ln_f.bias"], eps)
    return h @ w["transformer.wte.weight"].T                                         # tied LM head


def gpt2_checkpoint(gen, cfg, std):
    d, inner, L = cfg["n_embd"], cfg["n_inner"], cfg["n_layer"]
    w = {"transformer.wte.weight": randn(gen, std, cfg["vocab_size"], d),
         "transformer.wpe.weight": randn(gen, std, cfg["n_positions"], d)}
    for i in range(L):
        p = "transformer.h.%d." % i
        w[p + "ln_1.weight"] = 1 + randn(gen, 0.1, d)
        w[p + "ln_1.bias"] = randn(gen, 0.1, d)
        w[p + "attn.c_attn.weight"] = randn(gen, std, d, 3 * d)
        w[p + "attn.c_attn.bias"] = randn(gen, 0.1, 3 * d)
        w[p + "attn.c_proj.weight"] = randn(gen, std, d, d)
        w[p + "attn.c_proj.bias"] = randn(gen, 0.1, d)
        w[p + "ln_2.weight"] = 1 + randn(gen, 0.1, d)
        w[p + "ln_2.bias"] = randn(gen, 0.1, d)
        w[p + "mlp.c_fc.weight"] = randn(gen, std, d, inner)
        w[p + "mlp.c_fc.bias"] = randn(gen, 0.1, inner)
        w[p + "mlp.c_proj.weight"] = randn(gen, std, inner, d)
        w[p + "mlp.c_proj.bias"] = randn(gen, 0.1, d)
    w["transformer.ln_f.weight"] = 1 + randn(gen, 0.1, d)
    w["transformer.ln_f.bias"] = randn(gen, 0.1, d)
    return w


# ----------------------------------------------------------------------------------------------- LLaMA

def rms_norm(x, weight, eps):
    return weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def rope_cos_sin(head_dim, theta, T):
    """cos and sin [T, head_dim] of HF's default rotary embedding, computed in float32 as HF does."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim))
    freqs = torch.outer(torch.arange(T, dtype=torch.int64).float(), inv_freq)        # [T, head_dim / 2]
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos().double(), emb.sin().double()


def llama_forward(cfg, w, ids, mask):
    """LlamaForCausalLM's (and Qwen2ForCausalLM's) logits; w holds float64 tensors by HF's names."""
    H, Hkv, eps = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["rms_norm_eps"]
    hd = cfg.get("head_dim", cfg["hidden_size"] // H)
    T = ids.shape[1]
    cos, sin = rope_cos_sin(hd, cfg["rope_theta"], T)

    def linear(x, name):
        y = x @ w[name + ".weight"].T                                                 # torch.nn.Linear: [out, in]
        return y + w[name + ".bias"] if name + ".bias" in w else y

    h = w["model.embed_tokens.weight"][ids]
    allowed = attention_allowed(mask)
    for i in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % i
        x = rms_norm(h, w[p + "input_layernorm.weight"], eps)
        q = split_heads(linear(x, p + "self_attn.q_proj"), H)
        k = split_heads(linear(x, p + "self_attn.k_proj"), Hkv)
        v = split_heads(linear(x, p + "self_attn.v_proj"), Hkv)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(H // Hkv, dim=1)                                      # HF's repeat_kv
        v = v.repeat_interleave(H // Hkv, dim=1)
        h = h + linear(merge_heads(attend(q, k, v, allowed)), p + "self_attn.o_proj")
        x = rms_norm(h, w[p + "post_attention_layernorm.weight"], eps)
        gated = torch.nn.functional.silu(linear(x, p + "mlp.gate_proj")) * linear(x, p + "mlp.up_proj")
        h = h + linear(gated, p + "mlp.down_proj")
    h = rms_norm(h, w["model.norm.weight"], eps)
    head = w["model.embed_tokens.weight"] if cfg["tie_word_embeddings"] else w["lm_head.weight"]
    return h @ head.T


def llama_checkpoint(gen, cfg, std, qkv_bias):
    d, inner, H, Hkv = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = cfg.get("head_dim", d // H)
    w = {"model.embed_tokens.weight": randn(gen, std, cfg["vocab_size"], d)}
    for i in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % i
        w[p + "input_layernorm.weight"] = 1 + randn(gen, 0.1, d)
        for name, out in (("q_proj", H * hd), ("k_proj", Hkv * hd), ("v_proj", Hkv * hd)):
            w[p + "self_attn." + name + ".weight"] = randn(gen, std, out, d)
            if qkv_bias:
                w[p + "self_attn." + name + ".bias"] = randn(gen, 0.3, out)
        w[p + "self_attn.o_proj.weight"] = randn(gen, std, d, H * hd)
        w[p + "post_attention_layernorm.weight"] = 1 + randn(gen, 0.1, d)
        w[p + "mlp.gate_proj.weight"] = randn(gen, std, inner, d)
        w[p + "mlp.up_proj.weight"] = randn(gen, std, inner, d)
        w[p + "mlp.down_proj.weight"] = randn(gen, std, d, inner)
    w["model.norm.weight"] = 1 + randn(gen, 0.1, d)
    if not cfg["tie_word_embeddings"]:
        w["lm_head.weight"] = randn(gen, std, cfg["vocab_size"], d)
    return w


# ----------------------------------------------------------------------------------------------- fixtures

def randn(gen, std, *shape):
    return torch.randn(*shape, generator=gen, dtype=torch.float32) * std


def stored(weights, dtype):
    """The tensors as they are stored (dtype) and as the forward sees them (float64 of the stored values)."""
    saved = {name: t.to(dtype) for name, t in weights.items()}
    return saved, {name: t.double() for name, t in saved.items()}


def inputs(gen, vocab, T):
    """Two sequences of T tokens: the first right-padded by one, the second left-padded by two."""
    ids = torch.randint(1, vocab, (2, T), generator=gen)
    mask = torch.ones(2, T, dtype=torch.int64)
    mask[0, T - 1] = 0
    mask[1, :2] = 0
    ids[mask == 0] = 0
    return ids, mask


def write_fixture(root, name, config, saved, extra, forward_weights, forward, ids, mask, dtype):
    out = os.path.join(root, name)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")
    write_safetensors(os.path.join(out, "model.safetensors"), {**saved, **extra})
    with torch.no_grad():
        logits = forward(config, forward_weights, ids, mask)
    expected = {
        "description": "logits of docs/scripts/reference_decoders.py for config.json and model.safetensors in this directory",
        "torch_version": torch.__version__,
        "weights_dtype": DTYPE_NAMES[dtype],
        "input_ids": ids.tolist(),
        "attention_mask": mask.tolist(),
        "logits": [[[float("%.7g" % v) for v in row] for row in seq] for seq in logits.tolist()],
    }
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f, separators=(",", ":"))
        f.write("\n")
    print("%-28s %s logits %s, |logits| max %.3f" % (name, DTYPE_NAMES[dtype], list(logits.shape), logits.abs().max().item()))


def gpt2_fixture(root):
    gen = torch.Generator().manual_seed(1)
    config = {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "vocab_size": 50, "n_positions": 16, "n_embd": 32,
              "n_layer": 2, "n_head": 4, "n_inner": 64, "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5,
              "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0, "initializer_range": 0.02,
              "scale_attn_weights": True, "tie_word_embeddings": True, "torch_dtype": "float32"}
    weights = gpt2_checkpoint(gen, config, 0.3)
    saved, exact = stored(weights, torch.float32)
    # stored as the original "gpt2" checkpoint is: GPT2Model's names (no "transformer."), causal-mask buffers
    base_names = {name[len("transformer."):]: t for name, t in saved.items()}
    buffers = {"h.%d.attn.bias" % i: torch.tril(torch.ones(16, 16)).view(1, 1, 16, 16) for i in range(2)}
    ids, mask = inputs(gen, config["vocab_size"], 6)
    write_fixture(root, "gpt2", config, base_names, buffers, exact, gpt2_forward, ids, mask, torch.float32)


def llama_config(model_type, vocab, theta, tied, **extra):
    config = {"architectures": ["Qwen2ForCausalLM" if model_type == "qwen2" else "LlamaForCausalLM"], "model_type": model_type,
              "vocab_size": vocab, "hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 2, "num_attention_heads": 4,
              "num_key_value_heads": 2, "hidden_act": "silu", "max_position_embeddings": 64, "rms_norm_eps": 1e-6,
              "rope_theta": theta, "rope_scaling": None, "tie_word_embeddings": tied, "attention_dropout": 0.0,
              "initializer_range": 0.02, "torch_dtype": "float32"}
    config.update(extra)
    return config


def llama_fixture(root, name, seed, config, dtype, qkv_bias):
    gen = torch.Generator().manual_seed(seed)
    weights = llama_checkpoint(gen, config, 0.3, qkv_bias)
    saved, exact = stored(weights, dtype)
    ids, mask = inputs(gen, config["vocab_size"], 6)
    write_fixture(root, name, config, saved, {}, exact, llama_forward, ids, mask, dtype)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: reference_decoders.py OUTPUT_DIRECTORY   (e.g. peft-core/src/test/resources/reference)")
    root = sys.argv[1]
    torch.set_num_threads(1)
    gpt2_fixture(root)
    llama_fixture(root, "llama-tied-theta10000", 2,
                  llama_config("llama", 64, 10000.0, True, attention_bias=False, mlp_bias=False), torch.float32, False)
    llama_fixture(root, "llama-untied-theta500000-bf16", 3,
                  llama_config("llama", 64, 500000.0, False, attention_bias=False, mlp_bias=False), torch.bfloat16, False)
    llama_fixture(root, "qwen2-tied-theta1000000-f16", 4,
                  llama_config("qwen2", 64, 1000000.0, True, use_sliding_window=False, sliding_window=4096), torch.float16, True)


if __name__ == "__main__":
    main()
