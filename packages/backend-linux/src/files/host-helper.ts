/**
 * The host's tools for file operations inside containers (StreamIn/StreamOut's `tar`, the `sh`
 * that creates missing directories), as Guardian does with its own tar rather than the image's:
 * images without a shell or a tar (distroless, scratch-based) still stream files. Only a
 * statically linked binary can run inside an arbitrary image, and native-ns execs a sealed copy
 * of it, so the container never reaches the host's file.
 */
import { closeSync, openSync, readSync } from 'node:fs';

/** Debian's busybox-static (also what scripts/build-rootfs.sh installs). */
export const DEFAULT_HOST_HELPER = '/bin/busybox';

const PT_INTERP = 3;

/** Whether `path` is a 64-bit little-endian ELF executable without a program interpreter. */
export function isStaticElf(path: string): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const h = Buffer.alloc(64);
    if (readSync(fd, h, 0, 64, 0) !== 64) return false;
    if (h.readUInt32BE(0) !== 0x7f454c46 || h[4] !== 2 || h[5] !== 1) return false; // ELF64, LE
    const phoff = Number(h.readBigUInt64LE(32));
    const phentsize = h.readUInt16LE(54);
    const phnum = h.readUInt16LE(56);
    if (phentsize < 4 || phnum === 0 || phnum > 256) return false;
    const ph = Buffer.alloc(phentsize * phnum);
    if (readSync(fd, ph, 0, ph.length, phoff) !== ph.length) return false;
    for (let i = 0; i < phnum; i++) if (ph.readUInt32LE(i * phentsize) === PT_INTERP) return false;
    return true;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * The helper to use: `configured` when given (false disables: the image's own tools are used),
 * else the default when it exists and is static.
 * @throws Error when a configured helper is not a static executable.
 */
export function chooseHostHelper(configured: string | false | undefined): string | undefined {
  if (configured === false) return undefined;
  if (configured !== undefined) {
    if (!configured.startsWith('/') || !isStaticElf(configured))
      throw new Error(
        `helper executable ${configured} must be an absolute path to a statically linked ELF binary`,
      );
    return configured;
  }
  return isStaticElf(DEFAULT_HOST_HELPER) ? DEFAULT_HOST_HELPER : undefined;
}
