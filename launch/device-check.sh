#!/usr/bin/env bash
# The GPU checks of a trial, for one call on a lent GPU machine (BENCHMARKS.md records the results).
#
#   here:   bash launch/device-prepare.sh
#   there:  bash launch/device-check.sh bench   # correctness of the fast path, bench train, WRN-28-10 epochs
#           bash launch/device-check.sh paper   # WRN-16-4, 200 epochs, paper recipe, all 50,000 images
#   (the device tool: carry [".whl", ".data"]; each stage fits one call of under 10 minutes)
#
# Logs and result records go to $OUT (default .device-out/); a summary table is printed last.
# DEVICE=cpu SMALL=1 NO_COMPILE=1 runs the same stages in miniature on a machine without a GPU, to
# check the script (torch.compile's C++ code generation on two CPU cores would take many minutes).
set -uo pipefail
cd "$(dirname "$0")/.."
stage=${1:-bench}
OUT=${OUT:-$PWD/.device-out}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
DEV=${DEVICE:-cuda}
SMALL=${SMALL:-0}
COMPILE=(false true); [ "${NO_COMPILE:-0}" = 1 ] && COMPILE=(false)
if ! "$PY" -c "import pydantic" 2>/dev/null && ls .whl/*.whl >/dev/null 2>&1; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/wrn-site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/wrn-site:$PWD
else
  export PYTHONPATH=$PWD
fi
export WRNSEARCH_CACHE=${WRNSEARCH_CACHE:-/tmp/wrn-cache}
W=("$PY" -m wrnsearch)
DATA=(--dataset cifar10 --data-root "${DATA_ROOT:-.data}")
log() { echo "== $(date +%T) $*" | tee -a "$OUT/summary.txt"; }

{ nvidia-smi -L 2>/dev/null; "$PY" -c "import torch, sys; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name() if torch.cuda.is_available() else '')"; } | tee "$OUT/env.txt"

if [ "$SMALL" = 1 ]; then
  BENCH_IMAGES=512; BIG=WRN-10-2; BIG_IMAGES=512; PAPER_EPOCHS=2; SUBSET=(--train-subset 1000 --test-subset 500)
else
  BENCH_IMAGES=20000; BIG=WRN-28-10; BIG_IMAGES=10000; PAPER_EPOCHS=200; SUBSET=()
fi

case "$stage" in
bench)
  log "correctness: one training step of the fast path against a float64 reference"
  "$PY" - "$DEV" <<'PYEOF' 2>&1 | tee "$OUT/correctness.txt"
import os, sys, torch, torch.nn.functional as F
from wrnsearch.model import build_model
from wrnsearch.spec import parse_name
from wrnsearch.measure import autocast_context
dev = torch.device(sys.argv[1])
for name in ("WRN-16-4", "WRN-22-2-B(3,3)-d0.3", "WRN-13-2-B(1,3,1)"):
    spec = parse_name(name)
    torch.manual_seed(0)
    ref = build_model(spec).double().train()
    fast = build_model(spec).to(dev).train().to(memory_format=torch.channels_last)
    fast.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in ref.state_dict().items()})
    for m in list(ref.modules()) + list(fast.modules()):  # dropout off: the two must compute one function
        if isinstance(getattr(m, "dropout", None), float):
            m.dropout = 0.0
    x, y = torch.randn(64, 3, 32, 32, dtype=torch.float64), torch.randint(0, 10, (64,))
    loss_ref = F.cross_entropy(ref(x), y); loss_ref.backward()
    # compiled once, for the first network only: each compile costs tens of seconds of the lease
    compiles = (False, True) if os.environ.get("NO_COMPILE") != "1" and name == "WRN-16-4" else (False,)
    variants = [("fp32", False, False)] + [("bf16", True, c) for c in compiles]
    for label, amp, compiled in variants:
        fast.zero_grad(set_to_none=True)
        step = torch.compile(fast, dynamic=False) if compiled else fast
        with autocast_context(dev, amp):
            loss = F.cross_entropy(step(x.float().to(dev).contiguous(memory_format=torch.channels_last)), y.to(dev))
        loss.backward()
        g = torch.cat([p.grad.flatten().double().cpu() for p in fast.parameters()])
        g_ref = torch.cat([p.grad.flatten() for p in ref.parameters()])
        rel_loss = abs(loss.item() - loss_ref.item()) / abs(loss_ref.item())
        rel_grad = ((g - g_ref).norm() / g_ref.norm()).item()
        cos = F.cosine_similarity(g, g_ref, dim=0).item()
        # bf16 keeps 8 mantissa bits and batch norm's backward subtracts nearly equal terms: gradients
        # differ by 10-30 % in norm yet point the same way; a wrong layout or cast gives cosine near 0
        ok = torch.isfinite(g).all().item() and rel_loss < 1e-2 and cos > (0.999 if label == "fp32" else 0.9)
        print(f"{name:22s} {label} compile={compiled!s:5s} loss rel err {rel_loss:.1e}  grad rel err {rel_grad:.1e}  "
              f"cosine {cos:.4f}  {'ok' if ok else 'FAIL'}")
PYEOF
  log "first load of CIFAR-10 (decode once into the cache) and a short trial through the CLI"
  "${W[@]}" train WRN-10-1 "${DATA[@]}" --epochs 1 --train-subset 1000 --test-subset 500 --device "$DEV" \
    -o "$OUT/first-trial.json" 2>&1 | tail -3 | tee -a "$OUT/summary.txt"
  for arch_images in "WRN-16-4 $BENCH_IMAGES" "$BIG $BIG_IMAGES"; do
    set -- $arch_images
    for c in "${COMPILE[@]}"; do
      flag=""; [ "$c" = true ] && flag=--compile
      tag="bench-$1${flag:+-compile}"
      log "bench train $1 $flag ($2 images)"
      "${W[@]}" bench train --arch "$1" "${DATA[@]}" --images "$2" --rounds 2 --device "$DEV" $flag --format json \
        > "$OUT/$tag.json" 2> "$OUT/$tag.log" || tail -5 "$OUT/$tag.log"
    done
  done
  for flag in "${COMPILE[@]}"; do
    log "$BIG: 2 epochs on all training images (${SUBSET[*]:-50,000}), compile=$flag (the second epoch is the steady one)"
    "${W[@]}" train "$BIG" "${DATA[@]}" --epochs 2 --val-size 0 "${SUBSET[@]}" --device "$DEV" --set train.compile=$flag \
      -o "$OUT/epochs-$BIG-compile-$flag.json" > "$OUT/epochs-$BIG-compile-$flag.log" 2>&1 || tail -5 "$OUT/epochs-$BIG-compile-$flag.log"
  done
  # the forecast beside the real epochs above: WRN-28-10's epoch_s in it against epochs-$BIG-*.json
  log "wrnsearch plan spaces/cifar10.yaml on $DEV (the forecast of the paper's space, beside the epochs above)"
  "${W[@]}" plan spaces/cifar10.yaml --device "$DEV" --format json > "$OUT/plan-cifar10.json" 2> "$OUT/plan-cifar10.log" \
    || tail -5 "$OUT/plan-cifar10.log"
  "$PY" -c "import json,sys; p=json.load(open(sys.argv[1])); print(p['search']); print([a for a in p['architectures'] if a['arch'] in ('WRN-28-10', 'WRN-16-4', 'WRN-40-4')])" \
    "$OUT/plan-cifar10.json" 2>/dev/null | tee -a "$OUT/summary.txt"
  ;;
paper)
  limit=${PAPER_LIMIT:-540s}
  log "paper check: WRN-16-4, $PAPER_EPOCHS epochs, paper recipe, all training images, compile, time limit $limit"
  [ "${RESUME:-0}" = 1 ] || rm -rf .device-ck  # RESUME=1 with .device-ck carried continues a truncated run
  mkdir -p .device-ck
  "${W[@]}" train WRN-16-4 "${DATA[@]}" --epochs "$PAPER_EPOCHS" --val-size 0 "${SUBSET[@]}" --device "$DEV" \
    --set train.compile="${COMPILE[-1]}" --time-limit "$limit" --checkpoint-dir .device-ck -o "$OUT/paper-WRN-16-4.json" \
    > "$OUT/paper.log" 2>&1 || tail -5 "$OUT/paper.log"
  cp -f .device-ck/checkpoint-*.pt "$OUT/" 2>/dev/null  # carry them back as .device-ck/ to resume a truncated run
  ;;
*)
  echo "device-check: unknown stage $stage (bench | paper)" >&2; exit 2 ;;
esac

"$PY" - "$OUT" <<'PYEOF' | tee -a "$OUT/summary.txt"
import json, sys, pathlib
out = pathlib.Path(sys.argv[1])
for f in sorted(out.glob("bench-*.json")):
    try:
        r = json.loads(f.read_text())
    except ValueError:
        print(f"{f.name}: no result"); continue
    print(f"{f.stem:28s} plain {r['plain_best']:9,.0f} img/s  ours {r['ours_best']:9,.0f} img/s  {r['ratio']:5.2f}x  "
          f"amp={r['amp']} cl={r['channels_last']} compile={r['compile']}  {r['device']}")
for f in sorted(out.glob("epochs-*.json")) + sorted(out.glob("paper-*.json")):
    r = json.loads(f.read_text())
    c = r.get("curve") or [{}]
    last = c[-1]
    per_epoch = r["dataset"]["train"] / last["images_per_s"] if last.get("images_per_s") else float("nan")
    test = r.get("test_error")
    print(f"{f.stem:28s} {r['status']:9s} epochs {r['epochs']:3d}  last epoch {per_epoch:6.2f} s for {r['dataset']['train']:,} images "
          f"({last.get('images_per_s', 0):,.0f} img/s)  test error {test if test is None else round(test, 2)}%  "
          f"wall {r['wall_time_s']:.0f} s  latency {r.get('latency_ms', float('nan')):.2f} ms")
PYEOF
