#!/usr/bin/env bash
# dit_torch.sh TOOLS_DIR DECK OUT_DIR COMMAND...
# The DiT next to PyTorch: tools/dit_torch_check.py writes PyTorch-initialised weights, COMMAND
# (wallfacer under mpiexec) trains one step from them in double through the Ulysses x WallFacer
# hybrid and dumps parameters, gradients, loss and inputs, and the tool checks that a PyTorch
# module written to docs/weights.md loads them strictly and gets the same loss and gradients.
# Exits 77 (skipped) when no python3 has torch and h5py.
set -u
tools=$1 deck=$2 out=$3
shift 3
fail() { echo "dit_torch.sh: $*"; exit 1; }

python=""
for candidate in "${WF_PYTHON:-}" python3 /usr/bin/python3; do
  [ -n "$candidate" ] || continue
  if "$candidate" -c "import h5py, torch" >/dev/null 2>&1; then python=$candidate; break; fi
done
[ -n "$python" ] || { echo "dit_torch.sh: skipped: no python3 with torch and h5py"; exit 77; }
echo "dit_torch.sh: using $python"

rm -rf "$out" && mkdir -p "$out" || fail "cannot create $out"
"$python" "$tools/dit_torch_check.py" weights "$out/weights.h5" --patch-dim 8 --d-model 32 --layers 2 --heads 4 \
  --kv-heads 2 --head-dim 8 --mlp-dim 128 --timestep-dim 32 --seed 3 || fail "writing the PyTorch weights failed"
timeout 240 "$@" "$deck" --set run.precision=double --set train.steps=1 --set bench.warmup=0 \
  --set parallel.schedule=ulysses-wallfacer --set model.weights_in="$out/weights.h5" \
  --set model.grads_out="$out/grads.h5" || fail "wallfacer failed"
"$python" "$tools/dit_torch_check.py" check "$out/grads.h5" --heads 4 --kv-heads 2 --tolerance 1e-10 \
  || fail "PyTorch and WallFacer differ"
rm -rf "$out"
echo "dit_torch.sh: ok"
