#!/usr/bin/env bash
# GPU figures on the JAX backend, for a host that has JAX with CUDA but no TensorFlow and no
# package index (docs/performance.md, "GPU"). kgen, Keras and the pure-Python packages they
# import are copied there; nothing is installed.
#
#   benchmarks/gpu.sh vendor DIR        # on a machine with a package index: put Keras and
#                                       # its dependencies (and click) into DIR; copy DIR and
#                                       # this repository to the GPU host
#   benchmarks/gpu.sh run OUT [DIR]     # on the GPU host, from the repository's root: every
#                                       # family's `kgen bench --synthetic --json` into OUT
#
# `run` times each family's train step and sampler on random images of MNIST's shape (no
# dataset, no tf.data) under XLA, in float32 and in mixed precision (float16 with loss
# scaling on a GPU), with `--strategy auto`: DataParallel over every GPU when there are
# two or more. Set STEPS, WARMUP, BATCH or FAMILIES to change what is timed.
set -euo pipefail

mode=${1:?usage: benchmarks/gpu.sh vendor DIR | run OUT [DIR]}
PYTHON=${PYTHON:-python3}

if [[ $mode == vendor ]]; then
  dir=${2:?usage: benchmarks/gpu.sh vendor DIR}
  # Pure-Python packages install for any Python; optree and h5py are compiled, so they come
  # as wheels for the GPU host's Python (TARGET_PYTHON, e.g. 3.11) and manylinux x86-64.
  "$PYTHON" -m pip install --quiet --target "$dir" --no-deps \
    "keras>=3.15" click namex rich markdown-it-py mdurl pygments absl-py
  "$PYTHON" -m pip install --quiet --target "$dir" --no-deps --only-binary=:all: \
    --platform manylinux2014_x86_64 --python-version "${TARGET_PYTHON:-3.11}" optree h5py
  echo "Vendored into $dir; copy it and this repository to the GPU host."
  exit 0
fi

[[ $mode == run ]] || { echo "unknown mode $mode" >&2; exit 2; }
out=${2:?usage: benchmarks/gpu.sh run OUT [DIR]}
vendor=${3:-}
mkdir -p "$out"
# The host's own packages first; the vendored ones fill in only what it lacks.
site=$("$PYTHON" -c 'import site; print(":".join(site.getsitepackages()))')
export PYTHONPATH="$PWD:$site${vendor:+:$vendor}"
export KERAS_BACKEND=jax
"$PYTHON" - <<'PY'
import jax
print("JAX", jax.__version__, "devices:", jax.devices())
missing = []
for module in ("keras", "click", "namex", "rich", "absl", "optree", "h5py", "ml_dtypes"):
    try:
        __import__(module)
    except ImportError:
        missing.append(module)
if missing:
    raise SystemExit(f"missing: {', '.join(missing)}; run `benchmarks/gpu.sh vendor DIR` where "
                     "there is a package index and pass DIR as the third argument")
PY
steps=${STEPS:-50} warmup=${WARMUP:-5} batch=${BATCH:-128}
for family in ${FAMILIES:-vae pixelcnn gan wgan-gp}; do
  for precision in no-mixed-precision mixed-precision; do
    "$PYTHON" -m cli.main --backend jax bench "$family" --synthetic --json \
      --jit-compile on --"$precision" --steps "$steps" --warmup "$warmup" \
      --batch-size "$batch" --sample-size 64 > "$out/$family-$precision.json"
    "$PYTHON" - "$out/$family-$precision.json" <<'PY'
import json, sys
figures = json.load(open(sys.argv[1]))
print(f"{figures['model']:<8} {'mixed' if figures['mixed_precision'] else 'float32':<8} "
      f"{figures['replicas']} x {figures['device']}: train {figures['train_images_per_s']:,.0f}, "
      f"sample {figures['sample_images_per_s']:,.0f} images/s")
PY
  done
done
