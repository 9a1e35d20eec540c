/** Handle and process-ID rules, and the file-system-safe ids derived from them. */
import { createHash, randomUUID } from 'node:crypto';
import { InvalidRequestError } from '@garden-ts/api-types';

/**
 * Validates a handle or process id (reference §2.1 "beat"): non-empty, no `/`, no NUL, not `.` or
 * `..`. UUIDs, GUIDs and long arbitrary strings stay accepted.
 * @throws InvalidRequestError naming `field`.
 */
export function checkName(field: string, value: string): void {
  if (value === '' || value === '.' || value === '..' || value.includes('/') || value.includes('\0')) {
    throw new InvalidRequestError(
      field,
      `${field} must not be empty, '.', '..' or contain '/' or NUL: ${JSON.stringify(value)}`,
    );
  }
}

/** A fresh UUIDv4, as Guardian generates for absent handles and process ids. */
export function generateName(): string {
  return randomUUID();
}

const SAFE = /^[A-Za-z0-9][A-Za-z0-9.-]{0,99}$/;

/**
 * The directory / cgroup name of a handle: the handle itself when short and plain, otherwise `_`
 * followed by a hash (a plain name never starts with `_`, so the two forms cannot collide).
 */
export function storageId(name: string): string {
  if (SAFE.test(name)) return name;
  return `_${createHash('sha256').update(name).digest('hex').slice(0, 40)}`;
}

/** The container hostname: the last 49 characters of the handle (reference §2.3). */
export function hostnameOf(handle: string): string {
  // Count characters, not UTF-16 units, like Go's string slicing of runes would not; Guardian slices
  // bytes, but a hostname must also stay within 64 bytes, which 49 ASCII characters do.
  const chars = [...handle];
  let host = chars.slice(-49).join('');
  while (Buffer.byteLength(host) > 64) host = [...host].slice(1).join('');
  return host;
}
