#!/usr/bin/env bash
# Idempotent setup for a fresh Debian machine with Node 20: system packages, pnpm, dependencies,
# native build, TypeScript build and the default busybox rootfs. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

PNPM_VERSION=$(node -p "require('./package.json').packageManager.split('@')[1]")

# System packages the build and the tests need (only when missing; needs root).
need_apt=()
command -v cmake >/dev/null || need_apt+=(cmake)
command -v g++ >/dev/null || need_apt+=(g++)
command -v make >/dev/null || need_apt+=(make)
[ -x /bin/busybox ] || need_apt+=(busybox-static)
command -v valgrind >/dev/null || need_apt+=(valgrind)
# nsenter (gardend in test namespaces), dmesg (NetOut `log` lines in the kernel log).
{ command -v nsenter >/dev/null && command -v dmesg >/dev/null; } || need_apt+=(util-linux)
# mkfs.btrfs: backend-linux's disk store (a loop-backed btrfs with qgroups) and its tests.
command -v mkfs.btrfs >/dev/null || need_apt+=(btrfs-progs)
command -v go >/dev/null || [ -x /usr/local/go/bin/go ] || need_apt+=(golang-go)
# Container networking: libnftables (dlopen'ed by native-ns; the nft CLI comes with it), ip/tc
# for the tests' namespaces and checks, iperf3 for the bandwidth tests and benches.
command -v nft >/dev/null || need_apt+=(nftables)
{ command -v ip >/dev/null && command -v tc >/dev/null; } || need_apt+=(iproute2)
command -v iperf3 >/dev/null || need_apt+=(iperf3)
# The CLI's terminal tests type into real shells in tmux (bash and zsh completion, gaol shell).
command -v tmux >/dev/null || need_apt+=(tmux)
command -v zsh >/dev/null || need_apt+=(zsh)
# Image tests and benches: a real registry on loopback, skopeo/umoci (test tooling and bench
# peer only; the product never runs them), zstd layers, htpasswd and TLS/JWT keys for auth tests.
command -v docker-registry >/dev/null || need_apt+=(docker-registry)
command -v skopeo >/dev/null || need_apt+=(skopeo)
command -v umoci >/dev/null || need_apt+=(umoci)
command -v zstd >/dev/null || need_apt+=(zstd)
command -v htpasswd >/dev/null || need_apt+=(apache2-utils)
command -v openssl >/dev/null || need_apt+=(openssl)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing system packages: ${need_apt[*]} (run as root or install them)" >&2
    exit 1
  fi
  log "apt-get install ${need_apt[*]}"
  apt-get update -qq
  # No package may start a daemon (docker-registry would listen on :5000): the tests start
  # their own on loopback.
  policy_rc=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    policy_rc=/usr/sbin/policy-rc.d
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  if [ -n "$policy_rc" ]; then rm -f "$policy_rc"; fi
fi

if [ "$(pnpm --version 2>/dev/null || true)" != "$PNPM_VERSION" ]; then
  log "installing pnpm $PNPM_VERSION"
  npm install -g --silent "pnpm@$PNPM_VERSION" >/dev/null
fi

log "pnpm install"
pnpm install --frozen-lockfile --reporter=silent

if [ -f packages/native-ns/package.json ] && grep -q '"build:native"' packages/native-ns/package.json; then
  log "building native code"
  pnpm --silent run build:native
fi

log "building packages"
pnpm --silent run build >/dev/null

if [ -x scripts/build-rootfs.sh ]; then
  log "building the default busybox rootfs"
  bash scripts/build-rootfs.sh >/dev/null
fi
