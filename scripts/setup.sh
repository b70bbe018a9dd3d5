#!/usr/bin/env bash
# Prepares a Debian machine (as root) to run tappet, its demo and its tests:
# Deno from npm, libsodium and the network tools from apt, /dev/net/tun in its
# usual mode, tappet's npm dependencies in ./node_modules (pinned by deno.lock,
# so that running from source downloads nothing, for any user), and the
# benchmark chart's in Deno's cache (pinned by scripts/chart.lock, so that
# `deno task check` runs offline).
# bash-completion, zsh and fish are for the completion scripts and their tests.
# prometheus (promtool and a server), lintian and dpkg-dev, nftables are for the
# metrics, package and MTU tests; wabt (wat2wasm) for the test that the
# committed checksum module is its source compiled. With --bench, also what
# `deno task bench` and `deno task soak` run: iperf3, and the tunnels
# compared with tappet (fastd, OpenVPN, tinc, quicktun, wireguard-go).
# Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

DENO_VERSION=2.9.6
APT_PACKAGES=(libsodium23 iproute2 iputils-ping util-linux tcpdump bash-completion zsh fish prometheus lintian dpkg-dev nftables wabt)
if [ "${1:-}" = "--bench" ]; then APT_PACKAGES+=(iperf3 fastd openvpn openssl tinc quicktun wireguard-go wireguard-tools); fi

have_deno() { command -v deno >/dev/null 2>&1 && deno --version 2>/dev/null | grep -q "^deno ${DENO_VERSION} "; }
if ! have_deno; then
  echo "setup: installing deno ${DENO_VERSION} from npm" >&2
  npm install --global --no-fund --no-audit "deno@${DENO_VERSION}" >&2
  if ! command -v deno >/dev/null 2>&1; then
    ln -sf "$(npm prefix --global)/bin/deno" /usr/local/bin/deno
  fi
fi

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]} with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

if [ ! -c /dev/net/tun ]; then
  mkdir -p /dev/net
  mknod /dev/net/tun c 10 200
fi
chmod 0666 /dev/net/tun

deno install --frozen >&2
deno install --frozen --node-modules-dir=none --lock=scripts/chart.lock --entrypoint scripts/chart.ts >&2
deno cache --no-config --frozen --lock=scripts/check_workflows.lock scripts/check_workflows.ts >&2
echo "setup: ready ($(deno --version | head -1), libsodium23, iproute2, iputils-ping)" >&2
