#!/usr/bin/env python3
"""Independent reference for bitsandbytes' 4-bit and 8-bit quantization semantics, written from bitsandbytes'
documented behaviour (functional.quantize_4bit / dequantize_4bit / quantize_blockwise / int8_vectorwise_quant and
the NF4/FP4 decision trees of its kernels) with numpy and torch only, so it runs without a GPU or bitsandbytes.

It writes peft-quant/src/test/resources/quant/bnb_reference.json, which QuantFixtureTest compares against
peft4j's Java implementation: code books, packed codes, block constants and dequantized values.

    /usr/bin/python3 docs/scripts/bnb_quant_reference.py [out.json]
"""
import base64
import json
import math
import sys
from fractions import Fraction

import numpy as np
import torch

NF4_OFFSET = 0.9677083


def f32_from_decimal(text):
    """The float32 nearest to a decimal literal (what a C compiler makes of `<text>f`)."""
    exact = Fraction(text)
    guess = np.float32(float(text))
    best = None
    for cand in (np.nextafter(guess, np.float32(-np.inf)), guess, np.nextafter(guess, np.float32(np.inf))):
        d = abs(Fraction(float(cand)) - exact)
        if best is None or d < best[0]:
            best = (d, cand)
    return np.float32(best[1])


def normal_map(offset=NF4_OFFSET):
    """create_normal_map(offset, use_extra_value=True) restricted to its 16 distinct values."""
    v1 = torch.special.ndtri(torch.linspace(offset, 0.5, 9)[:-1].double()).tolist()
    v3 = (-torch.special.ndtri(torch.linspace(offset, 0.5, 8)[:-1].double())).tolist()
    values = torch.tensor(v1 + [0.0] * (256 - 15) + v3, dtype=torch.float32).sort().values
    values /= values.max()
    nonzero = sorted(set(values.tolist()))
    assert len(nonzero) == 16
    return np.array(nonzero, dtype=np.float32)


def dynamic_map():
    """create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8)."""
    data = []
    for i in range(7):
        boundaries = torch.linspace(0.1, 1, 2 ** i + 1)
        means = (boundaries[:-1] + boundaries[1:]) / 2.0
        data += ((10 ** (-6 + i)) * means).tolist()
        data += (-(10 ** (-6 + i)) * means).tolist()
    data += [0.0, 1.0]
    return torch.tensor(sorted(data), dtype=torch.float32).numpy()


NF4 = normal_map()
NF4_THRESHOLDS = np.array([f32_from_decimal(repr((float(NF4[i]) + float(NF4[i + 1])) / 2)) for i in range(15)], dtype=np.float32)
FP4 = np.array([0.0, 0.005208333333, 0.66666667, 1.0, 0.33333333, 0.5, 0.16666667, 0.25,
                -0.0, -0.005208333333, -0.66666667, -1.0, -0.33333333, -0.5, -0.16666667, -0.25], dtype=np.float32)
FP4_THRESHOLDS = np.array([f32_from_decimal(t) for t in
                           ("0.00260417", "0.0859375", "0.20833333", "0.29166667", "0.4166667", "0.583333", "0.8333333")], dtype=np.float32)
FP4_BY_MAGNITUDE = np.array([0, 1, 6, 7, 4, 5, 2, 3])
DYN = dynamic_map()


def code4(kind, x):
    """Codes of normalized float32 values: strictly above a threshold goes up (NaN: code 0)."""
    if kind == "nf4":
        return np.searchsorted(NF4_THRESHOLDS, x, side="left").astype(np.int64) * ~np.isnan(x)
    mag = np.searchsorted(FP4_THRESHOLDS, np.abs(x), side="left")
    mag = np.where(np.isnan(x), 0, mag)
    return FP4_BY_MAGNITUDE[mag] + np.where(x < 0, 8, 0)


def code8(x):
    """bitsandbytes' dQuantize search of the dynamic map, one value at a time."""
    out = np.empty(len(x), dtype=np.int64)
    for k, v in enumerate(x.astype(np.float32)):
        pivot, upper_pivot, lower_pivot = 127, 255, 0
        lower, upper = np.float32(-1), np.float32(1)
        val = DYN[pivot]
        for step in (64, 32, 16, 8, 4, 2, 1):
            if v > val:
                lower_pivot, lower, pivot = pivot, val, pivot + step
            else:
                upper_pivot, upper, pivot = pivot, val, pivot - step
            val = DYN[pivot]
        if upper_pivot == 255:
            upper = DYN[upper_pivot]
        if lower_pivot == 0:
            lower = DYN[lower_pivot]
        if v > val:
            out[k] = upper_pivot if v > np.float32((upper + val) * np.float32(0.5)) else pivot
        else:
            out[k] = lower_pivot if v < np.float32((lower + val) * np.float32(0.5)) else pivot
    return out


def blockwise_absmax(x, block):
    n = len(x)
    blocks = (n + block - 1) // block
    padded = np.zeros(blocks * block, dtype=np.float32)
    padded[:n] = np.abs(x)
    return padded.reshape(blocks, block).max(axis=1)


def quantize_4bit(w, kind, block, double_quant):
    x = w.reshape(-1).astype(np.float32)
    n = len(x)
    absmax = blockwise_absmax(x, block)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = (np.float32(1) / absmax).astype(np.float32)
        normed = (x * np.repeat(inv, block)[:n]).astype(np.float32)
    codes = code4(kind, normed)
    if n % 2:
        codes = np.append(codes, 0)
    packed = ((codes[0::2] << 4) | codes[1::2]).astype(np.uint8)          # first value in the high nibble
    out = {"packed": packed}
    table = NF4 if kind == "nf4" else FP4
    if double_quant:
        offset = np.float32(np.mean(absmax.astype(np.float64)))
        centered = (absmax - offset).astype(np.float32)
        am2 = blockwise_absmax(centered, 256)
        normed2 = (centered * np.repeat((np.float32(1) / am2).astype(np.float32), 256)[:len(centered)]).astype(np.float32)
        q = code8(normed2)
        absmax_back = (DYN[q] * np.repeat(am2, 256)[:len(q)]).astype(np.float32) + offset
        out.update(qabsmax=q.astype(np.uint8), nested_absmax=am2, offset=offset, absmax=absmax_back.astype(np.float32))
    else:
        out["absmax"] = absmax
    hi, lo = packed >> 4, packed & 0x0F
    all_codes = np.stack([hi, lo], axis=1).reshape(-1)[:n]
    out["dequant"] = (table[all_codes] * np.repeat(out["absmax"], block)[:n]).astype(np.float32)
    return out


def quantize_int8_rows(w):
    absmax = np.abs(w).max(axis=1).astype(np.float32)
    scale = (np.float32(127) / absmax).astype(np.float32)
    q = np.rint(w * scale[:, None]).astype(np.int8)
    deq = (q.astype(np.float32) * absmax[:, None]).astype(np.float32) * np.float32(7.874015718698502e-3)
    return {"weight": q, "SCB": absmax, "dequant": deq.astype(np.float32)}


def weight(rows, cols):
    """A deterministic test matrix both sides can compute: sin(0.7311·i)·(1 + i mod 7)·0.02, rounded to float32."""
    i = np.arange(rows * cols, dtype=np.float64)
    return (np.sin(0.7311 * i) * (1 + i % 7) * 0.02).astype(np.float32).reshape(rows, cols)


def b64(a):
    return base64.b64encode(np.ascontiguousarray(a).tobytes()).decode("ascii")   # little-endian on x86


def main():
    out_path = sys.argv[1] if len(sys.argv) > 1 else "peft-quant/src/test/resources/quant/bnb_reference.json"
    cases = []
    for kind, rows, cols, block, dq in (("nf4", 24, 40, 64, False), ("fp4", 24, 40, 64, False), ("nf4", 25, 39, 128, False),
                                        ("nf4", 48, 352, 64, True), ("fp4", 48, 352, 64, True)):
        q = quantize_4bit(weight(rows, cols), kind, block, dq)
        case = {"type": kind, "rows": rows, "cols": cols, "block": block, "double_quant": dq, "packed": b64(q["packed"]),
                "absmax_f32": b64(q["absmax"])}
        if dq:
            case.update(qabsmax=b64(q["qabsmax"]), nested_absmax_f32=b64(q["nested_absmax"]), offset=float(q["offset"]))
        else:
            case["dequant_f32"] = b64(q["dequant"])
        cases.append(case)
    i8 = quantize_int8_rows(weight(24, 40))
    cases.append({"type": "int8", "rows": 24, "cols": 40, "weight_i8": b64(i8["weight"]), "scb_f32": b64(i8["SCB"]),
                  "dequant_f32": b64(i8["dequant"])})
    doc = {"generator": "docs/scripts/bnb_quant_reference.py", "torch": torch.__version__, "numpy": np.__version__,
           "nf4": [float(v) for v in NF4], "dynamic8_f32": b64(DYN), "cases": cases}
    with open(out_path, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print("wrote", out_path)


if __name__ == "__main__":
    main()
