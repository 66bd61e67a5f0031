#!/usr/bin/env bash
# run-demo.sh (make run): brings up the local cluster, installs agentgateway-go from
# manifests/ exactly as a user would, applies the demo (echo backend, Gateway, HTTPRoute),
# waits until the Gateway is Programmed (its proxy acknowledged the config), and prints the
# curl that reaches it. Needs root. `make down` removes everything.
set -euo pipefail
export GOTOOLCHAIN=go1.27.3 # go.mod needs Go 1.27; the go command fetches it from the module proxy
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
step() { echo "run: $* ($(date -u +%H:%M:%S))"; }

step "local cluster and its images (first run builds the control plane from the Go module proxy: ~15-20 min on 2 cores, and the images: ~10 min)"
hack/local-cluster.sh up
KUBECONFIG=$(hack/local-cluster.sh kubeconfig)
export KUBECONFIG
k() { kubectl "$@"; }

step "installing Gateway API CRDs and agentgateway CRDs"
k apply --server-side -k manifests/gateway-api >/dev/null
k apply --server-side -k manifests/crds >/dev/null
k wait --for=condition=Established crd --all --timeout=60s >/dev/null

step "installing the operator (manifests/operator); its image was built from this tree and pushed to the cluster's registry by up"
k apply --server-side -k manifests/operator >/dev/null
if ! k -n agentgateway-system rollout status deployment/agentgateway-operator --timeout=900s; then
  k -n agentgateway-system get pods -o wide
  k -n agentgateway-system logs deployment/agentgateway-operator --tail=40 || true
  exit 1
fi

step "demo: echo backend, Gateway demo/demo, HTTPRoute demo.example.com"
k apply --server-side -f manifests/demo/demo.yaml >/dev/null
if ! k -n demo wait --for=condition=Programmed gateway/demo --timeout=300s; then
  k -n demo get gateway demo -o yaml | sed -n '/^status:/,$p'
  k -n demo get pods -o wide
  exit 1
fi
addr=$(k -n demo get gateway demo -o jsonpath='{.status.addresses[0].value}')

step "reaching the Gateway at $addr"
for _ in $(seq 1 30); do
  if curl -sf -o /dev/null -H 'Host: demo.example.com' "http://$addr/"; then break; fi
  sleep 1
done
curl -s -i -H 'Host: demo.example.com' "http://$addr/hello" | head -20
cat <<MSG

The demo Gateway is up. Try:
  export KUBECONFIG=$KUBECONFIG
  curl -i -H 'Host: demo.example.com' http://$addr/
  kubectl get gateway,httproute -A
  kubectl get effectiveconfig -A          # what each Gateway's proxies run, policies merged
  kubectl get proxystatus -A              # each connected proxy and the version it acknowledged
Stop everything with: make down
MSG
