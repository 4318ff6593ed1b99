#!/usr/bin/env bash
# LoRA-family interop with the real HF PEFT, both directions (docs/interop.md, "LoRA family").
#   1. HF -> peft4j: docs/scripts/hf_peft_lora_fixtures.py makes adapters with HF PEFT (rewriting the committed
#      fixtures in examples/src/test/resources/hf-peft; `git diff` shows any change), then HfPeftLoraFixturesTest
#      loads them in peft4j and compares the logits with HF's.
#   2. peft4j -> HF: Peft4jAdaptersForHfExport writes peft4j adapters and `peft4j merge` exports into a temporary
#      directory, and docs/scripts/hf_peft_check_peft4j_adapters.py loads them with HF PEFT / transformers and
#      prints the table of differences; it exits non-zero on a mismatch.
# Needs a Python with torch, transformers, peft, safetensors and numpy: PEFT4J_HF_PYTHON (default /tmp/hfenv/bin/python).
# Usage: scripts/hf-interop-lora.sh [OUT_DIR]   (OUT_DIR: where direction 2 writes; default a temporary directory)
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PEFT4J_HF_PYTHON:-/tmp/hfenv/bin/python}
"$python" -c "import torch, transformers, peft, safetensors, numpy" ||
  { echo "hf-interop-lora: $python cannot import torch, transformers, peft, safetensors and numpy; set PEFT4J_HF_PYTHON" >&2; exit 2; }
out=${1:-$(mktemp -d)}
out=$(mkdir -p "$out" && cd "$out" && pwd)

echo "== HF PEFT -> peft4j: making the fixtures with HF PEFT"
PYTHONHASHSEED=0 "$python" docs/scripts/hf_peft_lora_fixtures.py peft-core/src/test/resources/reference examples/src/test/resources/hf-peft
echo "== HF PEFT -> peft4j: HfPeftLoraFixturesTest, and peft4j -> HF PEFT: Peft4jAdaptersForHfExport into $out"
mvn -B -o -q verify -pl examples -am -Dsurefire.failIfNoSpecifiedTests=false \
  -Dtest='HfPeftLoraFixturesTest,Peft4jAdaptersForHfExport' -Dpeft4j.hfInteropOut="$out/peft4j"
echo "== peft4j -> HF PEFT: loading peft4j's files with HF"
"$python" docs/scripts/hf_peft_check_peft4j_adapters.py "$out/peft4j"
