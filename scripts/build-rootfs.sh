#!/usr/bin/env bash
# Builds the default busybox rootfs of a garden-ts checkout (gardend's default --default-rootfs
# when it runs from the checkout). The builder ships with @garden-ts/backend-linux as the
# garden-ts-build-rootfs command, for installs outside a checkout.
# Usage: scripts/build-rootfs.sh [output-dir]   (default: <repo>/.rootfs/busybox). Idempotent.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
exec bash "$repo/packages/backend-linux/scripts/build-rootfs.sh" "${1:-$repo/.rootfs/busybox}"
