#!/usr/bin/env bash
# A sweep on Slurm: a job array runs one shard per task, and a job that depends on the array
# merges the shards into the files an unsharded run writes (byte for byte).
#
#   deploy/slurm-array.sh submit experiments/seed-advice.toml out/seed-advice 8
#
# submits the array (tasks 0-7) and the merge (after every task succeeded). The same script is
# what each task runs (`shard`) and what the merge job runs (`merge`). A requeued or resubmitted
# task resumes from its own directory, skipping the chunks it had finished.
#
# Environment: EDGESIM (the binary, default target/release/edgesim), SBATCH_ARGS (extra sbatch
# options, e.g. "--partition=short --time=01:00:00").
#SBATCH --job-name=edgesim-sweep
#SBATCH --cpus-per-task=2
#SBATCH --mem=1G
#SBATCH --requeue
#SBATCH --output=slurm-%x-%A_%a.out
set -euo pipefail
edgesim=${EDGESIM:-target/release/edgesim}

case "${1:-}" in
  submit)
    exp=${2:?experiment file}; out=${3:?output directory}; n=${4:?number of shards}
    mkdir -p "$out"
    # shellcheck disable=SC2086
    array=$(sbatch --parsable ${SBATCH_ARGS:-} --array=0-$((n - 1)) "$0" shard "$exp" "$out")
    # shellcheck disable=SC2086
    merge=$(sbatch --parsable ${SBATCH_ARGS:-} --job-name=edgesim-merge --dependency=afterok:"$array" "$0" merge "$exp" "$out" "$n")
    echo "array job $array ($n shards), merge job $merge; results in $out/merged"
    ;;
  shard)
    exp=${2:?}; out=${3:?}
    # edgesim reads its shard from SLURM_ARRAY_TASK_ID (less SLURM_ARRAY_TASK_MIN) and
    # SLURM_ARRAY_TASK_COUNT.
    exec "$edgesim" sweep "$exp" --out "$out/shard-$SLURM_ARRAY_TASK_ID" --threads "${SLURM_CPUS_PER_TASK:-1}" --no-progress
    ;;
  merge)
    exp=${2:?}; out=${3:?}; n=${4:?}
    dirs=()
    for ((i = 0; i < n; i++)); do dirs+=("$out/shard-$i"); done
    exec "$edgesim" merge "${dirs[@]}" --out "$out/merged"
    ;;
  *)
    echo "usage: $0 submit EXPERIMENT OUT_DIR SHARDS" >&2
    exit 2
    ;;
esac
