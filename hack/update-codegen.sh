#!/usr/bin/env bash
# update-codegen.sh regenerates everything under generated/ and the CRDs under manifests/crds
# from the types in apis/. Generators are pinned by the root go.mod (tool directives) and by
# k8s.io/code-generator's kube_codegen.sh of that version.
set -euo pipefail
export GOTOOLCHAIN=go1.27.3 # go.mod needs Go 1.27; the go command fetches it from the module proxy

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
module=$(go list -m)

# kube_codegen.sh installs its generators into GOBIN: keep them inside the repo's ignored _output.
export GOBIN="$root/_output/bin"
mkdir -p "$GOBIN"

# go list reports no directory for a module that is not in the module cache yet (a fresh
# machine): download it first.
go mod download k8s.io/code-generator
codegen_root=$(go list -m -f '{{.Dir}}' k8s.io/code-generator)
if [ -z "$codegen_root" ] || [ ! -f "$codegen_root/kube_codegen.sh" ]; then
  echo "codegen: k8s.io/code-generator not found in the module cache" >&2
  exit 1
fi
# shellcheck source=/dev/null
source "$codegen_root/kube_codegen.sh"

echo "codegen: deepcopy"
kube::codegen::gen_helpers --boilerplate hack/boilerplate.go.txt apis

echo "codegen: openapi (views)"
kube::codegen::gen_openapi \
  --output-dir generated/openapi \
  --output-pkg "$module/generated/openapi" \
  --report-filename hack/api-violations.list \
  --update-report \
  --boilerplate hack/boilerplate.go.txt \
  apis/views

echo "codegen: clientset, listers, informers, applyconfigurations"
kube::codegen::gen_client \
  --with-watch \
  --with-applyconfig \
  --plural-exceptions "AgentgatewayParameters:AgentgatewayParameters" \
  --applyconfig-externals "sigs.k8s.io/gateway-api/apis/v1.PolicyStatus:sigs.k8s.io/gateway-api/applyconfiguration/apis/v1,sigs.k8s.io/gateway-api/apis/v1.PolicyAncestorStatus:sigs.k8s.io/gateway-api/applyconfiguration/apis/v1,sigs.k8s.io/gateway-api/apis/v1.ParentReference:sigs.k8s.io/gateway-api/applyconfiguration/apis/v1,sigs.k8s.io/gateway-api/apis/v1.HTTPCORSFilter:sigs.k8s.io/gateway-api/applyconfiguration/apis/v1,sigs.k8s.io/gateway-api/apis/v1.HTTPHeaderFilter:sigs.k8s.io/gateway-api/applyconfiguration/apis/v1,sigs.k8s.io/gateway-api/apis/v1.HTTPHeader:sigs.k8s.io/gateway-api/applyconfiguration/apis/v1,sigs.k8s.io/gateway-api/apis/v1.SessionPersistence:sigs.k8s.io/gateway-api/applyconfiguration/apis/v1,sigs.k8s.io/gateway-api/apis/v1.CookieConfig:sigs.k8s.io/gateway-api/applyconfiguration/apis/v1,sigs.k8s.io/gateway-api/apis/v1.BackendObjectReference:sigs.k8s.io/gateway-api/applyconfiguration/apis/v1" \
  --output-dir generated \
  --output-pkg "$module/generated" \
  --boilerplate hack/boilerplate.go.txt \
  apis

echo "codegen: CRDs"
go tool controller-gen crd paths=./apis/agentgateway/... output:crd:artifacts:config=manifests/crds

echo "codegen: Gateway API CRDs (experimental channel of the pinned sigs.k8s.io/gateway-api)"
go mod download sigs.k8s.io/gateway-api
gwapi=$(go list -m -f '{{.Dir}}' sigs.k8s.io/gateway-api)
if [ -z "$gwapi" ]; then
  echo "codegen: sigs.k8s.io/gateway-api not found in the module cache" >&2
  exit 1
fi
rm -f manifests/gateway-api/*.yaml
cp "$gwapi"/config/crd/experimental/*.yaml manifests/gateway-api/
chmod 644 manifests/gateway-api/*.yaml
{
  echo "# Copied by hack/update-codegen.sh from sigs.k8s.io/gateway-api $(go list -m -f '{{.Version}}' sigs.k8s.io/gateway-api), experimental channel."
  sed 's/^resources:/resources:/' "$gwapi/config/crd/experimental/kustomization.yaml"
} > manifests/gateway-api/kustomization.yaml.tmp
rm -f manifests/gateway-api/kustomization.yaml && mv manifests/gateway-api/kustomization.yaml.tmp manifests/gateway-api/kustomization.yaml
echo "codegen: done"
