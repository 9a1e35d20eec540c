/** Handle and process-id rules (linux-backend-reference §2.1, §2.3). */
import { randomUUID } from 'node:crypto';
import { InvalidRequestError } from '@garden-ts/api-types';

/**
 * Validates a handle or process id (reference §2.1 "beat": both become directory names): not
 * empty, no `/`, no NUL, not `.` or `..`. UUIDs, GUIDs and long arbitrary strings stay accepted.
 * @throws InvalidRequestError naming `field` (`handle`, `id`).
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

/** The container hostname: the last 49 characters of the handle (reference §2.3), at most 64 bytes. */
export function hostnameOf(handle: string): string {
  // Guardian slices bytes; we slice characters so a multi-byte handle never yields broken UTF-8,
  // and drop leading characters while the name exceeds the kernel's 64-byte limit.
  const chars = [...handle];
  let host = chars.slice(-49).join('');
  while (Buffer.byteLength(host) > 64) host = [...host].slice(1).join('');
  return host;
}
