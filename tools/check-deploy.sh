#!/usr/bin/env bash
# `make test` runs this: the deployment files a user applies must be right without a cluster.
#   1. Every Kubernetes manifest validates (strict: no unknown fields) against KUBERNETES_VERSION.
#   2. The container file's build step builds the very binary `make build` built: run here, on the
#      same build folder, it must find nothing to rebuild (a flag that differs rebuilds, and fails).
set -euo pipefail
cd "$(dirname "$0")/.."
version=${KUBERNETES_VERSION:-1.31.0}
kubernetes-validate --strict --quiet -k "$version" deploy/kubernetes/*.yaml
echo "check-deploy: deploy/kubernetes/*.yaml valid for Kubernetes $version"

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
