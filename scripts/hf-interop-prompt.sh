#!/usr/bin/env bash
# Prompt learning against the real HF PEFT, both directions, end to end (docs/interop.md, "Prompt learning"):
#
#   HF -> peft4j   docs/scripts/hf_peft_prompt_fixtures.py makes adapters with HF PEFT (as the committed fixtures of
#                  HfPeftPromptFixturesTest) into WORK/hf-made; `peft4j logits --adapter` runs each on the same tokens;
#   peft4j -> HF   `peft4j train --method prompt|ptuning|prefix|ptuning-v2` trains adapters on the tiny reference
#                  checkpoints (causal LM) and the fixture script's tiny BERT (classification) into WORK/peft4j-made, `peft4j logits --adapter` (and, on GPT-2, `generate --adapter`)
#                  writes their outputs;
#   then docs/scripts/hf_peft_check_peft4j_prompts.py loads every adapter with HF PEFT, prints a table of max |delta|
#   per case and exits non-zero on a mismatch.
#
# Usage: scripts/hf-interop-prompt.sh [WORK_DIR]     (default: a new temporary directory)
# Needs: a Python with torch, transformers, peft and tokenizers, given by PEFT4J_HF_PYTHON (default /tmp/hfenv/bin/python);
# the CLI jar examples/target/peft4j.jar (built here with `mvn -B -q -o package -DskipTests` when missing).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PEFT4J_HF_PYTHON:-/tmp/hfenv/bin/python}"
work="${1:-$(mktemp -d -t peft4j-hf-interop-prompt.XXXXXX)}"
reference="$root/peft-core/src/test/resources/reference"
peft4j="$root/bin/peft4j"

if [[ ! -x "$python" ]]; then
  echo "hf-interop-prompt: no Python at $python; set PEFT4J_HF_PYTHON to one with torch, transformers, peft and tokenizers" >&2
  exit 2
fi
if [[ ! -f "$root/examples/target/peft4j.jar" ]]; then
  echo "building the CLI jar ..." >&2
  (cd "$root" && mvn -B -q -o package -DskipTests)
fi
mkdir -p "$work/hf-made" "$work/peft4j-made"
ids="7,31,2,44,19;12,5,38"           # two sequences; the CLI pads the second on the right and masks the padding
echo "$ids" > "$work/ids.txt"
prompt="w3 w9 w4"

# ---------------------------------------------------------------------------------------------------- HF -> peft4j
"$python" "$root/docs/scripts/hf_peft_prompt_fixtures.py" "$work/hf-made" > "$work/hf-made/fixtures.log"
tokenizer="$work/hf-made/tokenizer/tokenizer.json"
for dir in "$work"/hf-made/*/; do
  [[ -f "$dir/expected.json" ]] || continue
  name="$("$python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["base"])' "$dir/expected.json")"
  if [[ "$name" == bert-base ]]; then base="$work/hf-made/bert-base"; else base="$reference/$name"; fi
  "$peft4j" logits --model "$base" --adapter "$dir" --ids "$ids" > "$dir/peft4j_logits.json" 2> "$dir/peft4j.log"
  if [[ "$(basename "$dir")" == gpt2-* ]]; then
    "$peft4j" generate --model "$base" --adapter "$dir" --tokenizer "$tokenizer" --prompt "$prompt" --max-new-tokens 4 \
      > "$dir/peft4j_generate.json" 2>> "$dir/peft4j.log"
  fi
done

# ---------------------------------------------------------------------------------------------------- peft4j -> HF
data="$work/train.jsonl"
: > "$data"
for i in $(seq 0 15); do
  a=$((i % 7 + 1)); b=$((i % 5 + 10)); c=$((i % 3 + 20))
  echo "{\"text\":\"w$a w$b w$c w$a w$b w$c w$a w$b\"}" >> "$data"
done
declare -A bases=([gpt2]=gpt2 [llama]=llama-tied-theta10000 [qwen2]=qwen2-tied-theta1000000-f16)
declare -A methods=(
  [prompt-random]="--method prompt --num-virtual-tokens 3"
  [prompt-text]="--method prompt --num-virtual-tokens 4 --prompt-init text --prompt-init-text w7_w21_w13"
  [ptuning-mlp]="--method ptuning --num-virtual-tokens 3 --encoder-type mlp --encoder-hidden-size 8"
  [ptuning-lstm]="--method ptuning --num-virtual-tokens 3 --encoder-type lstm --encoder-hidden-size 6"
  [prefix-projection]="--method prefix --num-virtual-tokens 4 --encoder-hidden-size 8"
  [ptuning-v2]="--method ptuning-v2 --num-virtual-tokens 4"
)
labelled="$work/classify.jsonl"       # BERT: 3 classes told apart by the first word
: > "$labelled"
for i in $(seq 0 23); do
  echo "{\"text\":\"w$((i % 3 + 1)) w$((i % 7 + 10)) w$((i % 5 + 20))\",\"label\":$((i % 3))}" >> "$labelled"
done
for b in gpt2 llama qwen2 bert; do
  for m in prompt-random prompt-text ptuning-mlp ptuning-lstm prefix-projection ptuning-v2; do
    out="$work/peft4j-made/$b-$m"
    if [[ "$b" == bert ]]; then
      base="$work/hf-made/bert-base"; task=(--task classification --train "$labelled")
    else
      base="$reference/${bases[$b]}"; task=(--task causal-lm --train "$data")
    fi
    # shellcheck disable=SC2206
    args=(${methods[$m]})
    args=("${args[@]//w7_w21_w13/w7 w21 w13}")
    "$peft4j" train --model "$base" --tokenizer "$tokenizer" "${task[@]}" --epochs 3 --batch-size 8 \
      --max-length 8 --lr 5e-2 --warmup-ratio 0 --seed 7 "${args[@]}" --out "$out" > "$work/peft4j-made/$b-$m.log" 2>&1
    "$peft4j" logits --model "$base" --adapter "$out" --ids "$ids" > "$out/peft4j_logits.json" 2>> "$work/peft4j-made/$b-$m.log"
    if [[ "$b" == gpt2 ]]; then
      "$peft4j" generate --model "$base" --adapter "$out" --tokenizer "$tokenizer" --prompt "$prompt" --max-new-tokens 4 \
        > "$out/peft4j_generate.json" 2>> "$work/peft4j-made/$b-$m.log"
    fi
  done
done

"$python" "$root/docs/scripts/hf_peft_check_peft4j_prompts.py" "$work"
