#!/usr/bin/env bash
# install-deps.sh installs the Debian packages the local cluster and the tests need, if any
# is missing: iproute2 (ip netns), iptables and conntrack (kube-proxy, the safety chain),
# util-linux (nsenter, unshare), ca-certificates (the CA bundle make images copies),
# redis-server (the global rate-limit tests run the rate-limit service on it), tcpdump (the
# config stream TLS e2e test captures the cluster bridge).
# Used by hack/local-cluster.sh and .ci/run.
set -euo pipefail
need=()
command -v ip >/dev/null || need+=(iproute2)
command -v iptables >/dev/null || need+=(iptables)
command -v conntrack >/dev/null || need+=(conntrack)
command -v nsenter >/dev/null || need+=(util-linux)
command -v kubectl >/dev/null || need+=(kubernetes-client)
[ -s /etc/ssl/certs/ca-certificates.crt ] || need+=(ca-certificates)
command -v redis-server >/dev/null || need+=(redis-server)
command -v tcpdump >/dev/null || need+=(tcpdump)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "install-deps: missing ${need[*]}; run as root or: apt-get install -y ${need[*]}" >&2
  exit 1
fi
echo "install-deps: installing ${need[*]}" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >&2
