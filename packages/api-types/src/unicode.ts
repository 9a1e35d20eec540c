/** Well-formedness of UTF-16 strings (handles and property keys must be valid Unicode). */

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** The index of the first lone surrogate in `value`, or -1 when `value` is well-formed UTF-16. */
export function loneSurrogateIndex(value: string): number {
  return LONE_SURROGATE.exec(value)?.index ?? -1;
}

/**
 * Why `value` cannot be a handle or property key, or undefined when it can: a lone surrogate has
 * no UTF-8 encoding, so it would silently become U+FFFD on the way and name another object.
 */
export function illFormedReason(value: string): string | undefined {
  const at = loneSurrogateIndex(value);
  if (at === -1) return undefined;
  const unit = value.charCodeAt(at).toString(16).padStart(4, '0');
  return `ill-formed UTF-16: lone surrogate \\u${unit} at index ${at}`;
}
