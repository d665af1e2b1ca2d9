#!/usr/bin/env bash
# On the GPU machine (JAX, no TensorFlow), with .whl/ from scripts/gpu_wheels.sh carried along:
# Lookahead(SGD) vs SGD on VGG19 + head at 224 px under Keras' JAX backend, float32 and
# mixed_bfloat16, two batch sizes (8 compilations), against the card's measured bf16
# matrix-multiply rate. About 5 minutes on an H100.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site KERAS_BACKEND=jax PYTHONUNBUFFERED=1
export XLA_PYTHON_CLIENT_PREALLOCATE=false
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c 'import jax, keras; print("jax", jax.__version__, jax.devices(), "keras", keras.__version__)'
peak=$(python3 - <<'PY'
import sys
sys.argv = ["bench", "--peak-tflops", "measure"]
sys.path.insert(0, "scripts")
import bench_lookahead
print(f"{bench_lookahead.measured_peak_tflops():.1f}")
PY
)
echo "measured dense bf16 matrix multiply: $peak TFLOP/s"
for dtype in mixed_bfloat16 float32; do
    for batch in 64 128; do
        python3 scripts/bench_lookahead.py --backend jax --image-size 224 --batch-size "$batch" \
            --dtype "$dtype" --steps 10 --rounds 5 --peak-tflops "$peak"
    done
done
