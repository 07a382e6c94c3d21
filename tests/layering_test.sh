#!/usr/bin/env bash
# Fails when a module includes a module it may not depend on (docs/architecture.md).
# Dependencies flow one way: cli → web → http → {service, schedule} → store → {domain, ingest} → core.
set -euo pipefail
cd "$(dirname "$0")/.."

declare -A allowed=(
  [core]=""
  [domain]="core"
  [ingest]="core"
  [store]="domain core"
  [service]="store domain ingest core"
  [schedule]="store domain core"
  [http]="service schedule domain ingest core"
  [web]="http core"
  [cli]="web http service schedule store domain ingest core"
)

status=0
for module in "${!allowed[@]}"; do
  [[ -d "src/$module" ]] || continue
  while IFS= read -r line; do
    file=${line%%:*}
    target=$(sed -n 's/.*#include "\([a-z_]*\)\/.*/\1/p' <<<"${line#*:}")
    [[ -z "$target" || "$target" == "$module" || -z "${allowed[$target]+known}" ]] && continue
    if [[ ! " ${allowed[$module]} " =~ " $target " ]]; then
      echo "layering: $file includes $target/ but $module may use only: ${allowed[$module]:-nothing}"
      status=1
    fi
  done < <(grep -rn '#include "[a-z_]*/' "src/$module" || true)
done
[[ $status -eq 0 ]] && echo "layering: ok"
exit $status
