#!/usr/bin/env bash
# The PyTorch reference check: for each model, `basin reference` dumps one
# train-mode forward/backward and check_resnet.py redoes it in PyTorch; then a
# plain state_dict written by PyTorch goes through `basin eval`
# (plain_state_dict.py), and a dumped SGD, SAM and NCSAM training step is
# replayed in PyTorch from the dump alone (replay_step.py).
#   tests/reference/check.sh BUILD_DIR [models...]   (default: resnet20 resnet18)
# Prints one PASS/FAIL line per model (the full table on failure); exits 1 on any FAIL.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:?usage: check.sh BUILD_DIR [models...]}
shift
models=("$@")
[[ ${#models[@]} -eq 0 ]] && models=(resnet20 resnet18)
basin="$build/basin"
[[ -x "$basin" ]] || { echo "check.sh: $basin not found or not executable (build first: make)" >&2; exit 1; }

# Debian's python3-torch lives under the system interpreter; a pyenv/venv python3 on PATH may lack it.
python=""
for p in "${PYTHON:-}" /usr/bin/python3 python3; do
  [[ -n "$p" ]] && "$p" -c "import torch, numpy" 2>/dev/null && { python=$p; break; }
done
[[ -n "$python" ]] || { echo "check.sh: no python3 with torch and numpy (bash cmake/deps.sh --reference)" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
status=0
for model in "${models[@]}"; do
  dump="$tmp/$model.safetensors"
  log="$tmp/$model.log"
  if ! "$basin" reference --model "$model" --batch 8 --seed 1 --out "$dump" >"$log" 2>&1; then
    echo "FAIL $model: basin reference failed"; cat "$log"; status=1; continue
  fi
  if "$python" "$here/check_resnet.py" "$dump" >>"$log" 2>&1; then
    summary=$(grep -E "^$model: worst" "$log")
    echo "PASS $model (${summary#"$model: "})"
  else
    echo "FAIL $model:"; cat "$log"; status=1
  fi
done

# --- PyTorch -> basin: a plain state_dict (no "model." prefix, no metadata) ---
plain="$tmp/plain"
mkdir -p "$plain"
if ! "$python" "$here/plain_state_dict.py" make "$plain" >"$plain/make.log" 2>&1; then
  echo "FAIL plain state_dict: plain_state_dict.py make failed"; cat "$plain/make.log"; exit 1
fi
data="cifar10:$plain/data"
eval_flags=(eval --dataset "$data" --model resnet20 --width 0.25 --num-classes 10 --mean 0.5 --std 0.25)
if "$basin" "${eval_flags[@]}" --checkpoint "$plain/plain.safetensors" --dump-logits "$plain/basin.npy" \
     >"$plain/eval.json" 2>"$plain/eval.log" &&
   [[ $(wc -l <"$plain/eval.json") -eq 1 ]] &&
   "$python" "$here/plain_state_dict.py" compare "$plain" "$plain/basin.npy" >>"$plain/eval.log" 2>&1; then
  echo "PASS plain state_dict eval ($(tail -n 1 "$plain/eval.log" | sed 's/.*: relative/relative/'))"
else
  echo "FAIL plain state_dict eval:"; cat "$plain/eval.log" "$plain/eval.json"; status=1
fi
# A width-0.5 file evaluated as width 0.25: refused, naming the tensor and both shapes.
expected="shape mismatch: 'conv1.weight' file [8, 3, 3, 3] vs model [4, 3, 3, 3]"
if "$basin" "${eval_flags[@]}" --checkpoint "$plain/wide.safetensors" >/dev/null 2>"$plain/wide.log"; then
  echo "FAIL plain state_dict refusal: a width-0.5 file was accepted as width 0.25"; status=1
elif grep -qF "$expected" "$plain/wide.log"; then
  echo "PASS plain state_dict refusal ($expected)"
else
  echo "FAIL plain state_dict refusal: the error does not say \"$expected\":"; cat "$plain/wide.log"; status=1
fi

# --- a dumped training step replayed in PyTorch from the dump alone ---
# 80 training images, batch 16: 5 steps an epoch; step 6 is in epoch 2 (momentum
# from 6 earlier steps, NCSAM past warm-up with s(t) = kappa).
for method in sgd sam ncsam; do
  run="$tmp/run-$method"
  if ! "$basin" train --dataset "$data" --model resnet20 --width 0.25 --epochs 2 --batch-size 16 \
       --optimizer "$method" --warmup-epochs 0 --dump-step 6 --log-every 0 --eval-every 2 --seed 5 \
       --quiet --out "$run" >"$tmp/$method.log" 2>&1; then
    echo "FAIL $method step replay: basin train failed"; cat "$tmp/$method.log"; status=1; continue
  fi
  dump="$run/step_6.safetensors"
  if "$python" "$here/replay_step.py" "$dump" >>"$tmp/$method.log" 2>&1; then
    summary=$(grep -E "^$method step 6: worst" "$tmp/$method.log")
    echo "PASS $method step replay (${summary#"$method step 6: "})"
  else
    echo "FAIL $method step replay:"; cat "$tmp/$method.log"; status=1; continue
  fi
  # The comparison can fail: a replay with the learning rate off by 1% must.
  if "$python" "$here/replay_step.py" "$dump" --lr-scale 1.01 >"$tmp/$method.tampered.log" 2>&1; then
    echo "FAIL $method step replay: an lr 1% off still passed"; cat "$tmp/$method.tampered.log"; status=1
  fi
done
exit $status
