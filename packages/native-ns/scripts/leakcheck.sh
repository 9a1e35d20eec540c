#!/usr/bin/env bash
# Leak check of the native code for CI. Exits non-zero on any leak or memory error.
#   1. valgrind (memcheck, leaks are errors): native-tests (ring, spec parser, frames) and
#      net-tests (netlink messages; as root every network operation in private namespaces).
#   2. AddressSanitizer + LeakSanitizer build (gcc's -fsanitize=address): native-tests again and
#      garden-shim end to end on the host (spawn, output on both streams, stdin, EOF, exit file);
#      native-tests fails when the instrumented shim exits non-zero (which LSan makes it do on a
#      leak). As root it also runs the shim's CREATE path (a privileged container on a copy of
#      the busybox rootfs, whose init becomes native-tests' child). valgrind cannot run the shim itself: Debian's valgrind 3.19 lacks pidfd_open.
# Needs: cmake, g++ (12+), valgrind. Builds in build/leak/ and build/asan/.
set -euo pipefail
pkg="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

command -v valgrind >/dev/null || { echo "leakcheck: valgrind is not installed (apt-get install valgrind)" >&2; exit 2; }

leak="$pkg/build/leak"
cmake -S "$pkg" -B "$leak" -DGARDEN_ADDON=OFF -DGARDEN_STATIC_HELPERS=OFF -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build "$leak" >/dev/null
echo "leakcheck: native-tests under valgrind"
valgrind --quiet --leak-check=full --show-leak-kinds=all --errors-for-leak-kinds=definite,indirect,possible \
  --error-exitcode=99 "$leak/Release/native-tests"
if [ "$(id -u)" = 0 ]; then
  echo "leakcheck: btrfs-tests (disk store primitives on a loop-mounted btrfs) under valgrind"
  valgrind --quiet --leak-check=full --show-leak-kinds=all --errors-for-leak-kinds=definite,indirect,possible \
    --error-exitcode=99 "$leak/Release/btrfs-tests"
fi
echo "leakcheck: net-tests under valgrind (as root: netlink and nftables in private namespaces)"
valgrind --quiet --suppressions="$pkg/scripts/libnftables.supp" --leak-check=full \
  --show-leak-kinds=definite,indirect,possible --errors-for-leak-kinds=definite,indirect,possible \
  --error-exitcode=99 "$leak/Release/net-tests"

asan="$pkg/build/asan"
cmake -S "$pkg" -B "$asan" -DGARDEN_ADDON=OFF -DGARDEN_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build "$asan" >/dev/null
echo "leakcheck: native-tests + garden-shim end to end under AddressSanitizer/LeakSanitizer"
create_args=()
if [ "$(id -u)" = 0 ]; then
  rootfs="$pkg/../../.rootfs/busybox"
  [ -x "$rootfs/bin/busybox" ] || { echo "leakcheck: no busybox rootfs (run scripts/build-rootfs.sh)" >&2; exit 2; }
  work="$(mktemp -d /tmp/leakcheck-rootfs-XXXXXX)"
  trap 'rm -rf "$work"' EXIT
  cp -a "$rootfs" "$work/rootfs"
  create_args=("$asan/Release/garden-init" "$work/rootfs")
fi
ASAN_OPTIONS="detect_leaks=1:exitcode=99:abort_on_error=0" "$asan/Release/native-tests" "$asan/Release/garden-shim" "${create_args[@]}"
if [ "$(id -u)" = 0 ]; then
  echo "leakcheck: btrfs-tests under AddressSanitizer/LeakSanitizer"
  ASAN_OPTIONS="detect_leaks=1:exitcode=99:abort_on_error=0" "$asan/Release/btrfs-tests"
fi
ASAN_OPTIONS="detect_leaks=1:exitcode=99:abort_on_error=0" "$asan/Release/net-tests"
echo "leakcheck: clean"
