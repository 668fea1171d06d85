#!/usr/bin/env bash
# TensorFlow against JAX on this machine, one family after another in one run
# (docs/performance.md, "TensorFlow and JAX"): every family's `kgen bench --synthetic --json`
# on TensorFlow as it trains by default (XLA as `--jit-compile auto` sets it: off on a CPU),
# on TensorFlow with XLA on, and on JAX (XLA always), with the same model, batch, steps and
# random images. Prints one JSON line per run into OUT/, then the ratios.
#
#   benchmarks/backends.sh OUT           # FAMILIES, STEPS, WARMUP, BATCH change what is timed
set -euo pipefail
out=${1:?usage: benchmarks/backends.sh OUT}
mkdir -p "$out"
KGEN=${KGEN:-kgen}
steps=${STEPS:-20} warmup=${WARMUP:-3} batch=${BATCH:-128}
for family in ${FAMILIES:-vae pixelcnn gan wgan-gp}; do
  for run in tensorflow:auto tensorflow:on jax:auto; do
    backend=${run%%:*} jit=${run##*:}
    $KGEN --backend "$backend" bench "$family" --synthetic --json --jit-compile "$jit" \
      --steps "$steps" --warmup "$warmup" --batch-size "$batch" \
      > "$out/$family-$backend-xla-$jit.json" 2> /dev/null
  done
done
python3 - "$out" ${FAMILIES:-vae pixelcnn gan wgan-gp} <<'PY'
import json, sys
out, families = sys.argv[1], sys.argv[2:]
print("family    TF train/s  TF+XLA/TF  JAX/TF  | TF sample/s  JAX/TF")
for family in families:
    tf, xla, jax = (json.load(open(f"{out}/{family}-{name}.json"))
                    for name in ("tensorflow-xla-auto", "tensorflow-xla-on", "jax-xla-auto"))
    train = lambda figures: figures["train_images_per_s"]
    sample = lambda figures: figures["sample_images_per_s"]
    print(f"{family:<9} {train(tf):>10,.0f}  {train(xla) / train(tf):>9.2f}  "
          f"{train(jax) / train(tf):>6.2f}  | {sample(tf):>11,.0f}  {sample(jax) / sample(tf):>6.2f}")
PY
