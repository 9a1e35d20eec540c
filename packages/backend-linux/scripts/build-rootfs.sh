#!/usr/bin/env bash
# garden-ts-build-rootfs (a bin of @garden-ts/backend-linux): builds a minimal busybox rootfs from
# Debian's busybox-static, for gardend's --default-rootfs (and the tests). Installs busybox-static
# when it is missing and this runs as root. Idempotent; a half-built rootfs is never visible.
# Usage: garden-ts-build-rootfs OUTPUT-DIR
set -euo pipefail

if [ $# -ne 1 ] || [ -z "$1" ] || [ "$1" = -h ] || [ "$1" = --help ]; then
  echo "usage: garden-ts-build-rootfs OUTPUT-DIR   (then: gardend --backend linux --default-rootfs OUTPUT-DIR)" >&2
  exit 2
fi
out="$1"

busybox=/bin/busybox
if [ ! -x "$busybox" ] || ! dpkg -s busybox-static >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "garden-ts-build-rootfs: busybox-static is not installed and we are not root (apt-get install busybox-static)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq busybox-static >/dev/null
fi

# Build into a temp dir beside the output, then swap: a half-built rootfs is never visible.
parent="$(dirname "$out")"
mkdir -p "$parent"
tmp="$(mktemp -d "$parent/.rootfs-build.XXXXXX")"
chmod 0755 "$tmp"
trap 'rm -rf "$tmp"' EXIT

install -d -m 0755 "$tmp"/{bin,sbin,usr/bin,usr/sbin,etc,dev,proc,sys,home,var,run,mnt}
install -d -m 0700 "$tmp/root"
install -d -m 1777 "$tmp/tmp"
install -m 0755 "$busybox" "$tmp/bin/busybox"
# One link per applet, where busybox would install it.
"$tmp/bin/busybox" --list-full | while read -r applet; do
  [ "$applet" = "bin/busybox" ] && continue
  mkdir -p "$tmp/$(dirname "$applet")"
  rel="$(realpath --relative-to="$tmp/$(dirname "$applet")" "$tmp/bin/busybox")"
  ln -sf "$rel" "$tmp/$applet"
done
[ -e "$tmp/bin/sh" ] || ln -s busybox "$tmp/bin/sh"

cat > "$tmp/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
operator:x:37:37:Operator:/var:/bin/sh
vcap:x:2000:2000:vcap:/home/vcap:/bin/sh
alice:x:1001:1001:alice:/home/alice:/bin/sh
bob:x:1002:1002:bob:/home/bob:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat > "$tmp/etc/group" <<'GROUP'
root:x:0:
wheel:x:10:root
tty:x:5:
operator:x:37:
vcap:x:2000:
alice:x:1001:
bob:x:1002:
users:x:100:alice,bob
nogroup:x:65534:
GROUP
echo "garden" > "$tmp/etc/hostname"
: > "$tmp/etc/hosts"
: > "$tmp/etc/resolv.conf"
for u in vcap:2000 alice:1001 bob:1002; do
  install -d -m 0755 -o "${u#*:}" -g "${u#*:}" "$tmp/home/${u%%:*}"
done

rm -rf "$out.old"
if [ -e "$out" ]; then mv "$out" "$out.old"; fi
mv "$tmp" "$out"
rm -rf "$out.old"
trap - EXIT
echo "garden-ts-build-rootfs: $out"
