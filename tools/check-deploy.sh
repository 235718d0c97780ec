#!/usr/bin/env bash
# `make test` runs this: the deployment files a user applies must be right without a cluster.
#   1. Every Kubernetes manifest validates (strict: no unknown fields) against KUBERNETES_VERSION.
#   2. A worker's --gpus lists as many devices as its container's nvidia.com/gpu limit.
#   3. The container file's build step builds the very binary `make build` built: run here, on the
#      same build folder, it must find nothing to rebuild (a flag that differs rebuilds, and fails).
set -euo pipefail
cd "$(dirname "$0")/.."
version=${KUBERNETES_VERSION:-1.31.0}
kubernetes-validate --strict --quiet -k "$version" deploy/kubernetes/*.yaml
echo "check-deploy: deploy/kubernetes/*.yaml valid for Kubernetes $version"
python3 - deploy/kubernetes/*.yaml <<'PY'
import sys, yaml
for path in sys.argv[1:]:
    for doc in yaml.safe_load_all(open(path)):
        for container in ((doc or {}).get("spec", {}).get("template", {}).get("spec", {}).get("containers") or []):
            gpus = [a.split("=", 1)[1] for a in container.get("args", []) if a.startswith("--gpus=")]
            limit = int(container.get("resources", {}).get("limits", {}).get("nvidia.com/gpu", 0))
            listed = len(gpus[0].split(",")) if gpus else 0
            if listed != limit:
                sys.exit(f"check-deploy: {path}: container {container['name']} lists {listed} GPUs in --gpus but its nvidia.com/gpu limit is {limit}")
print("check-deploy: every worker's --gpus matches its nvidia.com/gpu limit")
PY

containerfile=deploy/container/Containerfile
build=$(sed -n 's/^RUN \(swift build .*\)$/\1/p' "$containerfile")
[ -n "$build" ] || { echo "check-deploy: no 'RUN swift build' line in $containerfile"; exit 1; }
# The binary that build line makes, and the one the runtime stage copies, must be make's.
binary=$($build --show-bin-path)/sweep
made=$(realpath .build/release)/sweep
[ "$(realpath "$binary")" = "$made" ] || { echo "check-deploy: '$build' builds $binary, not make's $made"; exit 1; }
grep -q '^COPY --from=build /src/.build/release/sweep ' "$containerfile" \
    || { echo "check-deploy: $containerfile does not copy .build/release/sweep into the image"; exit 1; }
[ -x "$binary" ] || { echo "check-deploy: $binary is missing: run make build first"; exit 1; }
before=$(sha256sum "$binary" | cut -d' ' -f1)
$build > /dev/null
after=$(sha256sum "$binary" | cut -d' ' -f1)
if [ "$before" != "$after" ]; then
    echo "check-deploy: '$build' ($containerfile) rebuilt $binary: its flags differ from make build's"
    exit 1
fi
echo "check-deploy: '$build' ($containerfile) builds the binary make built ($before)"
