#!/usr/bin/env bash
# The recipe of the shipped demo weights (m2h_slam/weights/m2h_tiny_synthetic.safetensors):
# synthetic apartments rendered at the m2h_tiny input size (every second one domain-randomised),
# then `m2h-slam train --config configs/train/demo.yaml` (docs/model.md).
#   bash datasets/synthetic/make_training_set.sh OUT_DIR [SEEDS] [FRAMES] [FIRST_SEED]
set -euo pipefail
out=${1:?output folder}
seeds=${2:-16}
frames=${3:-120}
first=${4:-100}
bin=${M2H_SLAM:-m2h-slam}
for seed in $(seq "$first" $((first + seeds - 1))); do
  rooms=$((2 + seed % 5))
  extra=""
  if (( seed % 2 == 1 )); then extra="--randomize"; elif (( seed % 3 == 0 )); then extra="--noise 3 --blur 0.6 --exposure 0.2"; fi
  $bin -q synth "$out/seed$seed" --seed "$seed" --frames "$frames" --fps 5 --size 224x168 \
      --rooms "$rooms" --people 2 --move-object --force $extra
done
echo "wrote $seeds sequences to $out"
