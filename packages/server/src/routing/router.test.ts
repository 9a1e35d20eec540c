/** Go `pat` routing semantics (protocol §2.1). */
import { describe, expect, it } from 'vitest';
import { formDecode, hasValidEscapes, parseQuery } from './form-decoding.js';
import { matchRoute, tryPattern } from './router.js';

describe('tryPattern', () => {
  it('captures up to the next slash, allows empty captures, consumes the whole path', () => {
    expect(tryPattern('/containers/:handle/info', '/containers/abc/info')).toEqual({ handle: 'abc' });
    expect(tryPattern('/containers/:handle/info', '/containers//info')).toEqual({ handle: '' });
    expect(tryPattern('/containers/:handle/info', '/containers/abc/info/')).toBeUndefined();
    expect(tryPattern('/containers/:handle', '/containers/')).toBeUndefined();
    expect(tryPattern('/containers/:handle', '/containers/a/b')).toBeUndefined();
  });

  it('form-decodes captures after matching on the escaped path', () => {
    expect(tryPattern('/containers/:handle/info', '/containers/a%2Fb/info')).toEqual({ handle: 'a/b' });
    expect(tryPattern('/containers/:handle/info', '/containers/a+b%2Bc/info')).toEqual({ handle: 'a b+c' });
    expect(tryPattern('/containers/:handle/info', '/containers/%C3%A9/info')).toEqual({ handle: 'é' });
  });
});

describe('matchRoute', () => {
  it('tries routes in table order: bulk_info is not an info route', () => {
    const m = matchRoute('GET', '/containers/bulk_info');
    expect(m.kind === 'route' && m.route.name).toBe('BulkInfo');
    const i = matchRoute('GET', '/containers/bulk_info/info');
    expect(i.kind === 'route' && i.route.name).toBe('Info');
    const a = matchRoute('GET', '/containers/h/processes/p');
    expect(a.kind === 'route' && a.route.name).toBe('Attach');
    const s = matchRoute('GET', '/containers/h/processes/p/attaches/7/stderr');
    expect(s.kind === 'route' && s.params).toEqual({ handle: 'h', pid: 'p', streamid: '7' });
  });

  it('reports 405 with the methods whose patterns match, and 404 otherwise', () => {
    expect(matchRoute('POST', '/ping')).toEqual({ kind: 'method-not-allowed', allow: ['GET'] });
    expect(matchRoute('HEAD', '/ping')).toEqual({ kind: 'method-not-allowed', allow: ['GET'] });
    expect(matchRoute('PATCH', '/containers/h/properties/k')).toEqual({
      kind: 'method-not-allowed',
      allow: ['GET', 'PUT', 'DELETE'],
    });
    expect(matchRoute('GET', '/nope')).toEqual({ kind: 'not-found' });
    expect(matchRoute('GET', '/containers/')).toEqual({ kind: 'not-found' });
  });
});

describe('form decoding', () => {
  it('validates path escapes like Go', () => {
    expect(hasValidEscapes('/a%2Fb')).toBe(true);
    expect(hasValidEscapes('/a%zz')).toBe(false);
    expect(hasValidEscapes('/a%2')).toBe(false);
  });

  it('decodes + and %XX, rejecting bad escapes', () => {
    expect(formDecode('a+b%26c')).toBe('a b&c');
    expect(formDecode('%zz')).toBeUndefined();
  });

  it('parses queries: first value wins, bad pairs dropped, missing = is empty', () => {
    const q = parseQuery('a+b=c%26d&owner=me&owner=you&bad=%zz&flag&x;y=1');
    expect([...q]).toEqual([
      ['a b', 'c&d'],
      ['owner', 'me'],
      ['flag', ''],
    ]);
  });
});
