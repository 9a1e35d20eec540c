/**
 * A subset of Go's `http.DetectContentType`, used for StreamOut whose Go handler sets no
 * Content-Type (clients must ignore it; a tar archive sniffs as application/octet-stream).
 */

const HTML_TAGS = [
  '<!DOCTYPE HTML',
  '<HTML',
  '<HEAD',
  '<SCRIPT',
  '<IFRAME',
  '<H1',
  '<DIV',
  '<FONT',
  '<TABLE',
  '<A',
  '<STYLE',
  '<TITLE',
  '<B',
  '<BODY',
  '<BR',
  '<P',
  '<!--',
];

function isWhitespace(b: number): boolean {
  return b === 0x09 || b === 0x0a || b === 0x0c || b === 0x0d || b === 0x20;
}

/** Go's "binary data byte" test used to tell text/plain from application/octet-stream. */
function isBinary(b: number): boolean {
  return b <= 0x08 || b === 0x0b || (b >= 0x0e && b <= 0x1a) || (b >= 0x1c && b <= 0x1f);
}

export function sniffContentType(data: Buffer): string {
  const buf = data.subarray(0, 512);
  let start = 0;
  while (start < buf.length && isWhitespace(buf[start]!)) start++;
  const rest = buf.subarray(start);
  const upper = rest.toString('latin1', 0, 16).toUpperCase();
  for (const tag of HTML_TAGS) {
    if (upper.startsWith(tag)) {
      const next = rest[tag.length];
      if (next === 0x20 || next === 0x3e) return 'text/html; charset=utf-8';
    }
  }
  if (rest.toString('latin1', 0, 5) === '<?xml') return 'text/xml; charset=utf-8';
  if (buf.toString('latin1', 0, 5) === '%PDF-') return 'application/pdf';
  if (buf[0] === 0x1f && buf[1] === 0x8b && buf[2] === 0x08) return 'application/x-gzip';
  if (buf.toString('latin1', 0, 4) === 'PK\x03\x04') return 'application/zip';
  for (const b of buf) if (isBinary(b)) return 'application/octet-stream';
  return 'text/plain; charset=utf-8';
}
