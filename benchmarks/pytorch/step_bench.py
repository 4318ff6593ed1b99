#!/usr/bin/env python3
"""PyTorch reference for peft4j's training-step benchmarks: the same models, shapes and optimizer.

Models (written here from HF's GPT-2 and BERT semantics, no transformers needed):
  gpt   GPT-2 style decoder: vocab 256, d 256, 4 layers, 4 heads, seq 128, batch 8 (pre-LN, gelu_new MLP 4d,
        learned positions, tied LM head), causal-LM loss.
  bert  the shape of all-MiniLM-L6-v2: vocab 30522, d 384, 6 layers, 12 heads, MLP 1536, seq 128, batch 16
        (post-LN, gelu), mean pooling + a 2-label classifier, cross-entropy.
Setups:
  full  every parameter trains (Adam).
  lora  LoRA r 8, alpha 16 on the attention projections (gpt: c_attn; bert: query and value), base frozen;
        the classifier head of bert trains too (HF PEFT's modules_to_save for sequence classification).
  qlora lora over a base whose transformer-block Linears hold NF4 weights with double quantization (blocks of
        64, absmax codes in 8 bits per 256 blocks), dequantized in forward and again in backward as
        bitsandbytes' 4-bit matmul does on its fallback path; embeddings, norms and heads stay float32.

Prints one JSON line per (model, setup): median step time in ms over the timed steps.
Run with Debian's python3-torch and OpenBLAS (apt-get install python3-torch libopenblas0-pthread: without
libopenblas0-pthread, torch falls back to the reference BLAS, 15x slower), e.g.
  OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 benchmarks/pytorch/step_bench.py --model gpt --setup full --steps 10
Threads: torch.set_num_threads(--threads), default 2 (the machine's cores).
"""
import argparse
import json
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class LoraLinear(nn.Module):
    """y = W x + b + (B A x) * alpha / r with W, b frozen; A Kaiming-uniform, B zero (HF PEFT's defaults)."""

    def __init__(self, base: nn.Module, r: int, alpha: float):
        super().__init__()
        self.base = base
        for p in self.base.parameters():
            p.requires_grad_(False)
        self.a = nn.Parameter(torch.empty(r, base.in_features))
        self.b = nn.Parameter(torch.zeros(base.out_features, r))
        nn.init.kaiming_uniform_(self.a, a=math.sqrt(5))
        self.scaling = alpha / r

    def forward(self, x):
        return self.base(x) + F.linear(F.linear(x, self.a), self.b) * self.scaling


# The 16 NF4 levels (QLoRA paper, appendix E; bitsandbytes' table).
NF4_LEVELS = torch.tensor([-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
                           -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
                           0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
                           0.7229568362236023, 1.0])


class Nf4Weight:
    """A frozen weight in NF4 with double quantization: two 4-bit codes per byte, one absmax per 64 values, the
    absmaxes as 8-bit codes (minus their mean) with one float scale per 256 of them."""

    BLOCK, ABSMAX_BLOCK = 64, 256

    def __init__(self, w: torch.Tensor):
        self.shape = w.shape
        blocks = w.detach().reshape(-1, self.BLOCK)
        absmax = blocks.abs().amax(1).clamp_min(1e-12)
        codes = ((blocks / absmax[:, None]).unsqueeze(-1) - NF4_LEVELS).abs().argmin(-1).to(torch.uint8).reshape(-1)
        self.packed = (codes[0::2] << 4) | codes[1::2]
        self.offset = absmax.mean()
        centered = (absmax - self.offset).reshape(-1, self.ABSMAX_BLOCK)
        self.absmax_scale = centered.abs().amax(1).clamp_min(1e-12) / 127
        self.absmax_codes = (centered / self.absmax_scale[:, None]).round().to(torch.int8)

    def dequantize(self) -> torch.Tensor:
        absmax = (self.absmax_codes.float() * self.absmax_scale[:, None]).reshape(-1) + self.offset
        codes = torch.stack(((self.packed >> 4), (self.packed & 15)), 1).reshape(-1).long()
        return (NF4_LEVELS[codes].reshape(-1, self.BLOCK) * absmax[:, None]).reshape(self.shape)


class Nf4MatMul(torch.autograd.Function):
    """y = x·Wᵀ with W dequantized in forward and again in backward (nothing float32 kept between them)."""

    @staticmethod
    def forward(ctx, x, weight: Nf4Weight):
        ctx.weight = weight
        return x @ weight.dequantize().t()

    @staticmethod
    def backward(ctx, grad):
        return grad @ ctx.weight.dequantize(), None


class Nf4Linear(nn.Module):
    """A frozen nn.Linear whose weight is NF4; the bias stays float32 and frozen."""

    def __init__(self, base: nn.Linear):
        super().__init__()
        self.in_features, self.out_features = base.in_features, base.out_features
        self.weight = Nf4Weight(base.weight)
        self.bias = nn.Parameter(base.bias.detach().clone(), requires_grad=False)

    def forward(self, x):
        return Nf4MatMul.apply(x, self.weight) + self.bias


def quantize_linears(module: nn.Module):
    """Replaces every nn.Linear below module with an Nf4Linear."""
    for name, child in module.named_children():
        if isinstance(child, nn.Linear):
            setattr(module, name, Nf4Linear(child))
        else:
            quantize_linears(child)


class GptBlock(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.ln_1 = nn.LayerNorm(d)
        self.c_attn = nn.Linear(d, 3 * d)
        self.c_proj = nn.Linear(d, d)
        self.ln_2 = nn.LayerNorm(d)
        self.c_fc = nn.Linear(d, 4 * d)
        self.mlp_proj = nn.Linear(4 * d, d)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(d, dim=2)
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        scores = q @ k.transpose(-1, -2) / math.sqrt(d // self.heads)
        mask = torch.ones(t, t, dtype=torch.bool).tril()
        scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
        a = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, t, d)
        x = x + self.c_proj(a)
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class Gpt(nn.Module):
    def __init__(self, vocab=256, d=256, layers=4, heads=4, positions=1024):
        super().__init__()
        self.wte = nn.Embedding(vocab, d)
        self.wpe = nn.Embedding(positions, d)
        self.h = nn.ModuleList(GptBlock(d, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d)

    def loss(self, ids):
        t = ids.shape[1]
        x = self.wte(ids) + self.wpe(torch.arange(t))
        for block in self.h:
            x = block(x)
        logits = self.ln_f(x) @ self.wte.weight.t()
        return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))


class BertLayer(nn.Module):
    def __init__(self, d, heads, inner):
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(d, d)
        self.key = nn.Linear(d, d)
        self.value = nn.Linear(d, d)
        self.attn_out = nn.Linear(d, d)
        self.ln_attn = nn.LayerNorm(d, eps=1e-12)
        self.inter = nn.Linear(d, inner)
        self.out = nn.Linear(inner, d)
        self.ln_out = nn.LayerNorm(d, eps=1e-12)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (self.query(x), self.key(x), self.value(x)))
        a = ((q @ k.transpose(-1, -2) / math.sqrt(d // self.heads)).softmax(-1) @ v).transpose(1, 2).reshape(b, t, d)
        x = self.ln_attn(x + self.attn_out(a))
        return self.ln_out(x + self.out(F.gelu(self.inter(x))))


class Bert(nn.Module):
    def __init__(self, vocab=30522, d=384, layers=6, heads=12, inner=1536, positions=512, labels=2):
        super().__init__()
        self.word = nn.Embedding(vocab, d)
        self.position = nn.Embedding(positions, d)
        self.token_type = nn.Embedding(2, d)
        self.ln = nn.LayerNorm(d, eps=1e-12)
        self.layer = nn.ModuleList(BertLayer(d, heads, inner) for _ in range(layers))
        self.classifier = nn.Linear(d, labels)

    def loss(self, ids, labels):
        t = ids.shape[1]
        x = self.ln(self.word(ids) + self.position(torch.arange(t)) + self.token_type(torch.zeros_like(ids)))
        for layer in self.layer:
            x = layer(x)
        return F.cross_entropy(self.classifier(x.mean(1)), labels)


def build(model_name, setup, seed):
    torch.manual_seed(seed)
    if model_name == "gpt":
        model = Gpt()
        if setup in ("lora", "qlora"):
            for p in model.parameters():
                p.requires_grad_(False)
            for block in model.h:
                if setup == "qlora":
                    quantize_linears(block)
                block.c_attn = LoraLinear(block.c_attn, 8, 16)
        ids = torch.randint(0, 256, (8, 128))
        return model, lambda: model.loss(ids)
    model = Bert()
    if setup in ("lora", "qlora"):
        for p in model.parameters():
            p.requires_grad_(False)
        for layer in model.layer:
            if setup == "qlora":
                quantize_linears(layer)
            layer.query = LoraLinear(layer.query, 8, 16)
            layer.value = LoraLinear(layer.value, 8, 16)
        for p in model.classifier.parameters():
            p.requires_grad_(True)
    ids = torch.randint(0, 30522, (16, 128))
    labels = torch.randint(0, 2, (16,))
    return model, lambda: model.loss(ids, labels)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=["gpt", "bert"], default="gpt")
    parser.add_argument("--setup", choices=["full", "lora", "qlora"], default="full")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, loss_fn = build(args.model, args.setup, args.seed)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(trainable, lr=1e-4)
    times = []
    for i in range(args.warmup + args.steps):
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=False)
        loss = loss_fn()
        loss.backward()
        optimizer.step()
        elapsed = (time.perf_counter() - start) * 1000
        if i >= args.warmup:
            times.append(elapsed)
    print(json.dumps({"framework": "pytorch", "version": torch.__version__, "model": args.model, "setup": args.setup,
                      "threads": args.threads, "median_step_ms": round(statistics.median(times), 2),
                      "trainable_params": sum(p.numel() for p in trainable),
                      "params": sum(p.numel() for p in model.parameters()), "steps_timed": len(times)}))


if __name__ == "__main__":
    main()
