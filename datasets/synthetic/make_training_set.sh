#!/usr/bin/env bash
# The recipe of the shipped demo weights (m2h_slam/perception/weights/m2h_tiny_synthetic.safetensors, docs/model-card.md):
# synthetic apartments rendered at the m2h_tiny input size, every RANDOMIZE_EVERY-th one domain-randomised and
# every third of the others with camera noise, blur and exposure changes; then
# `m2h-slam train --config configs/train/demo.yaml`.
#   bash datasets/synthetic/make_training_set.sh OUT_DIR [SEEDS] [FRAMES] [FIRST_SEED] [RANDOMIZE_EVERY] [FPS] [PEOPLE]
# Runs two renders at a time (one per core).
set -euo pipefail
out=${1:?output folder}
seeds=${2:-80}
frames=${3:-60}
first=${4:-200}
every=${5:-4}
fps=${6:-3}
people=${7:-2}
bin=${M2H_SLAM:-m2h-slam}
render() {
  local seed=$1 extra=""
  if (( seed % every == 1 )); then extra="--randomize"; elif (( seed % 3 == 0 )); then extra="--noise 3 --blur 0.6 --exposure 0.2"; fi
  $bin -q synth "$out/seed$seed" --seed "$seed" --frames "$frames" --fps "$fps" --size 224x168 \
      --rooms $((2 + seed % 5)) --people "$people" --move-object --force $extra
}
pids=()
for seed in $(seq "$first" $((first + seeds - 1))); do
  render "$seed" & pids+=($!)
  if (( ${#pids[@]} == 2 )); then for pid in "${pids[@]}"; do wait "$pid"; done; pids=(); fi  # a failed render stops here
done
for pid in "${pids[@]}"; do wait "$pid"; done
echo "wrote $seeds sequences to $out"
