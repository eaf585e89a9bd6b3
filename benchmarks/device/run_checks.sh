#!/bin/bash
# CUDA tests and the Dask-on-GPU check (cores 8-15) beside the CPU scale-out benchmark (cores 0-7), in one device call.
# Prepare first: benchmarks/device/prepare.sh. Results land in $OUT (scaleout.json, dask_gpu.json, logs).
export PYTHONUNBUFFERED=1
T0=$(date +%s); el() { echo "=== $(( $(date +%s) - T0 ))s: $*"; }
el install
python3 -m pip install -q --no-index --no-deps --no-compile .whl/*.whl 2>&1 | grep -v -i warning | tail -3
python3 -m pip install -q --no-index --no-deps --no-build-isolation -e . 2>&1 | grep -v -i warning | tail -3
export PYTHONPATH=$PWD/.devcarry
mkdir -p /tmp/data/homedepot && gunzip -c .devcarry/data/homedepot/train.csv.gz > /tmp/data/homedepot/train.csv
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader; nproc; lscpu | grep -E "Model name|Flags" | cut -c1-400 | tee $OUT/cpu.txt
python3 -c "import torch, transformers, lightgbm, dask, tagrank; print(torch.__version__, transformers.__version__, lightgbm.__version__, dask.__version__, torch.cuda.is_available())" || exit 1
el start
(taskset -c 0-7 timeout ${SCALE_S:-360} python3 benchmarks/perf_scaleout.py --data-dir /tmp/data --out $OUT --jobs topk,ranker,encode --encode-rounds 1 --ranker-candidates 30 > $OUT/scaleout.log 2>&1; echo "scaleout rc=$?" >> $OUT/scaleout.log) &
SP=$!
export OMP_NUM_THREADS=8
taskset -c 8-15 timeout ${TEST_S:-200} python3 -m pytest -q -p no:cacheprovider tests/hybrid/test_encoder.py tests/baselines/test_vectors.py tests/hybrid/test_fused_bert.py > $OUT/tests.log 2>&1
echo "tests rc=$?"; tail -8 $OUT/tests.log
el dask_gpu
taskset -c 8-15 timeout ${GPU_S:-100} python3 benchmarks/device/dask_gpu.py > $OUT/dask_gpu.log 2>&1; echo "dask_gpu rc=$?"; tail -20 $OUT/dask_gpu.log
el wait scaleout
wait $SP; grep -v -i warn $OUT/scaleout.log | tail -12
el done
