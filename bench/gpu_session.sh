#!/usr/bin/env bash
# One lent-GPU session's measurements (bench/gpu_step.py variants), results as JSON under ${OUT:-bench_out}.
#   bash bench/gpu_session.sh            # on the GPU machine, from the repo root
set -uo pipefail
out=${OUT:-bench_out}; mkdir -p "$out"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm --format=csv | tee "$out/gpu.txt"
python3 -c "import torch,transformers,peft;print('torch',torch.__version__,'transformers',transformers.__version__,'peft',peft.__version__)" | tee -a "$out/gpu.txt"
run() {  # name, args...
  local name=$1; shift
  [[ -n ${ONLY:-} && " $ONLY " != *" $name "* ]] && return
  timeout 240 python3 bench/gpu_step.py --json "$out/$name.json" "$@" 2>&1 | grep -v Warning | tail -4
}
run mb8 --micro-batch 8 --steps 120 --no-compile
run mb16 --micro-batch 16 --steps 80 --no-compile
run mb32_ckpt --micro-batch 32 --steps 30 --grad-ckpt --no-compile
run mb8_compile --micro-batch 8 --steps 100 --compile
run mb16_compile --micro-batch 16 --steps 60 --compile
python3 - "$out" <<'PY'
import json, pathlib, sys
print(f"{'run':10} {'tok/s':>8} {'TFLOP/s':>8} {'MFU':>6} {'mem GiB':>8} {'step s':>7} loss")
for p in sorted(pathlib.Path(sys.argv[1]).glob("*.json")):
    r = json.loads(p.read_text())
    print(f"{p.stem:10} {r['tokens_per_s']:8.0f} {r['tflops_per_s']:8.1f} {r['mfu']*100:5.1f}% {r['peak_memory_gib']:8.1f} "
          f"{r['median_step_s']:7.3f} {r['first_loss']:.2f}->{r['last_loss']:.2f}")
PY
