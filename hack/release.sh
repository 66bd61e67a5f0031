#!/usr/bin/env bash
# release.sh VERSION builds a release into build/release:
#   agentgateway-go-VERSION.tgz, agentgateway-go-crds-VERSION.tgz  the charts (version VERSION,
#                                                                  appVersion the images' tag)
#   install.yaml   every manifest in one file, images pinned by digest (kubectl apply --server-side -f;
#                  on a fresh cluster wait for the CRDs to be Established and apply a second time)
#   digests.txt    <repository>/<image>:<tag>@<digest> of the operator and proxy images
#   SHA256SUMS     of the files above
# Images come from `make images VERSION=VERSION` (OCI layout in build/oci); push them with
# `make push`. RELEASE_SKIP_IMAGES=1 reuses the layout already in IMAGE_LAYOUT.
# A release is built from a commit: a dirty tree is refused unless RELEASE_ALLOW_DIRTY=1.
set -euo pipefail
export GOTOOLCHAIN=go1.27.3 # go.mod needs Go 1.27; the go command fetches it from the module proxy

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

version=${1:-}
if ! [[ $version =~ ^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?$ ]]; then
  echo "usage: make release VERSION=x.y.z (a semantic version without a leading v; got '$version')" >&2
  exit 2
fi
layout=${IMAGE_LAYOUT:-build/oci}
out=${RELEASE_OUT:-build/release}

if [ -n "$(git status --porcelain)" ] && [ "${RELEASE_ALLOW_DIRTY:-}" != 1 ]; then
  echo "release: the working tree has uncommitted changes; commit them (or RELEASE_ALLOW_DIRTY=1)" >&2
  exit 1
fi

if [ "${RELEASE_SKIP_IMAGES:-}" != 1 ]; then
  echo "release: building images (make images VERSION=$version)"
  make images VERSION="$version" IMAGE_LAYOUT="$layout"
fi

rm -rf "$out"
# Archive timestamps come from HEAD's commit time, so the same commit packages the same bytes.
epoch=$(git log -1 --format=%ct)
go run ./hack/chart release -version "$version" -oci "$layout" -out "$out" -source-date-epoch "$epoch"
(cd "$out" && sha256sum -- *.tgz install.yaml digests.txt >SHA256SUMS)
echo "release: $out"
ls -l "$out"
