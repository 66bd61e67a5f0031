#!/usr/bin/env bash
# verify-codegen.sh fails when generated/ or the generated manifests differ from what
# hack/update-codegen.sh produces from apis/. It regenerates into a scratch copy of the tree,
# so it never touches the working tree.
set -euo pipefail
export GOTOOLCHAIN=go1.27.3 # go.mod needs Go 1.27; the go command fetches it from the module proxy

root=$(cd "$(dirname "$0")/.." && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# Copy the tracked files (plus untracked, unignored ones) so the check sees the working tree.
(cd "$root" && git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$scratch")
# Reuse the built generators.
if [ -d "$root/_output/bin" ]; then mkdir -p "$scratch/_output" && cp -r "$root/_output/bin" "$scratch/_output/"; fi

(cd "$scratch" && hack/update-codegen.sh >/dev/null)

status=0
for d in generated manifests/crds manifests/gateway-api hack/api-violations.list; do
  if ! diff -ruN "$root/$d" "$scratch/$d" >"$scratch/diff.txt" 2>&1; then
    echo "verify-codegen: $d is out of date; run hack/update-codegen.sh and commit the result:" >&2
    head -40 "$scratch/diff.txt" >&2
    status=1
  fi
done
[ $status -eq 0 ] && echo "verify-codegen: generated code is up to date"
exit $status
