#!/usr/bin/env bash
# Device check, not a benchmark: the vllm backend under the ray executor on real GPUs
# (docs/scaling.md, "vLLM replicas on Ray"). A tiny random-weights Llama, made here (nothing is
# downloaded), answers the concepts stage of an 8-seed run:
#   1. ray executor, tensor_parallel_size 1: one replica actor per GPU (gpus_per_actor = 1);
#   2. with 2+ GPUs: ray executor, tensor_parallel_size 2: one replica per placement group of
#      2 GPUs, whose vLLM engine starts its 2 workers as Ray actors in that group;
#   3. with 2+ GPUs: local executor, tensor_parallel_size 2: vLLM's own worker processes.
# Each run prints its exit status, the concepts stage's manifest entry (LLM calls, model, kept and
# dropped) and the log lines where Ray or vLLM say how the workers were placed. A random model's
# concepts are mostly dropped by the parser; what is checked is that the stage ran end to end.
#
#   bash bench/device/vllm_ray.sh       # WORK=/tmp/vllm-ray by default; OUT=dir keeps the logs
#
# Needs NVIDIA GPUs and vLLM + Ray; if `python3 -c "import vllm, ray"` fails, it installs them
# into a venv of its own (vLLM pins its torch), which needs a reachable package index.
set -uo pipefail
cd "$(dirname "$0")/../.."
WORK=${WORK:-/tmp/vllm-ray}
OUT=${OUT:-$WORK/out}
mkdir -p "$WORK" "$OUT"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH}
PY=${PYTHON:-python3}

if ! "$PY" -c "import vllm, ray" 2>/dev/null; then
  echo "== installing vllm and ray into $WORK/venv =="
  "$PY" -m venv "$WORK/venv" && PY=$WORK/venv/bin/python
  "$PY" -m pip install -q vllm 'ray>=2.9' rich tomli-w pyarrow jinja2 \
    || { echo "cannot install vllm and ray here: install them (pip install 'selfalign[vllm,ray]') and rerun"; exit 2; }
fi
"$PY" -c "import vllm, ray, torch; print('vllm', vllm.__version__, 'ray', ray.__version__, 'torch', torch.__version__)"
nvidia-smi --query-gpu=index,name,memory.total --format=csv,noheader | tee "$OUT/gpus.txt"
GPUS=$(wc -l < "$OUT/gpus.txt")

"$PY" - "$WORK/tiny" <<'PY'
import sys

import torch
import transformers
from tokenizers import Tokenizer, models, pre_tokenizers

words = ["<pad>", "<s>", "</s>", "<unk>", "def", "return", "(", ")", ":"] + [f"w{i}" for i in range(119)]
tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
transformers.PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>",
                                     unk_token="<unk>", pad_token="<pad>").save_pretrained(sys.argv[1])
# 4 query and 2 key/value heads of 64: both split evenly over 2 GPUs.
config = transformers.LlamaConfig(vocab_size=len(words), hidden_size=256, intermediate_size=512,
                                  num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                  max_position_embeddings=4096, bos_token_id=1, eos_token_id=2,
                                  pad_token_id=0)
torch.manual_seed(0)
transformers.LlamaForCausalLM(config).to(torch.bfloat16).save_pretrained(sys.argv[1])
print("tiny random Llama saved:", sys.argv[1])
PY

run() {   # NAME EXECUTOR TENSOR_PARALLEL_SIZE [--set ...]
  local name=$1 executor=$2 tp=$3
  shift 3
  rm -rf "${WORK:?}/$name"
  echo "== $name: executor $executor, tensor_parallel_size $tp =="
  SECONDS=0
  timeout 480 "$PY" -m selfalign run --no-progress --executor "$executor" --run-dir "$WORK/$name" \
    --model "$WORK/tiny" --limit 8 --set model.backend=vllm \
    --set "model.options.tensor_parallel_size=$tp" --set model.options.dtype=bfloat16 \
    --set model.options.enforce_eager=true --set model.options.gpu_memory_utilization=0.3 \
    --set model.options.max_model_len=4096 \
    --set 'run.steps=["seeds","concepts"]' --set seeds.typecheck=false \
    --set seeds.decontaminate=false --set concepts.format=completion "$@" > "$OUT/$name.log" 2>&1
  echo "exit $? after ${SECONDS} s (log: $OUT/$name.log)"
  grep -m 6 -iE "placement group|distributed_executor_backend|world_size|RayDistributed|Error" "$OUT/$name.log"
  "$PY" - "$WORK/$name/manifest.json" <<'PY'
import json, sys
try:
    stage = json.load(open(sys.argv[1]))["stages"]["concepts"]
except (OSError, KeyError) as exc:
    sys.exit(f"no concepts stage in the manifest: {exc!r}")
print({key: stage.get(key) for key in ("status", "llm", "kept", "dropped", "model")})
PY
}

run ray-tp1 ray 1 --set run.ray.gpus_per_actor=1
if [ "$GPUS" -ge 2 ]; then
  run ray-tp2 ray 2
  run local-tp2 local 2
else
  echo "== one GPU: tensor_parallel_size 2 needs 2; skipped =="
fi
