import { describe, expect, it } from 'vitest';
import { FirewallRemovals } from './firewall-removals.js';

describe('FirewallRemovals', () => {
  it('batches what is queued meanwhile into one transaction, and clear() waits for its keys', async () => {
    const applied: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const r = new FirewallRemovals(
      async (script) => {
        applied.push(script);
        await gate;
      },
      () => undefined,
    );
    const a = r.remove('a\n', ['ip:1']);
    const b = r.remove('b\n', ['port:2']);
    let cleared = false;
    const waiting = r.clear(['ip:1', 'ip:9']).then(() => {
      cleared = true;
    });
    await new Promise((x) => setTimeout(x, 10));
    expect(applied).toEqual(['a\nb\n']); // one transaction for both
    expect(cleared).toBe(false);
    await r.clear(['ip:9']); // nothing pending for it: at once
    release();
    await Promise.all([a, b, waiting]);
    expect(cleared).toBe(true);
    await r.settled();
    await r.clear(['ip:1']);
    expect(r.remove('  \n', ['x'])).toBeInstanceOf(Promise);
  });

  it('falls back to one transaction per removal when a batch fails, logging the bad one', async () => {
    const applied: string[] = [];
    const errors: string[] = [];
    const r = new FirewallRemovals(
      async (script) => {
        applied.push(script);
        if (script.includes('bad')) throw new Error(`refused: ${script.trim()}`);
      },
      (e) => errors.push(e.message),
    );
    await Promise.all([r.remove('good\n', []), r.remove('bad\n', []), r.remove('fine\n', [])]);
    expect(applied).toEqual(['good\nbad\nfine\n', 'good\n', 'bad\n', 'fine\n']);
    expect(errors).toEqual(['refused: bad']);
  });

  it('never strands a removal queued while a drain is ending', async () => {
    const r = new FirewallRemovals(
      async () => undefined,
      () => undefined,
    );
    // Queued from the continuation of the first removal: the drain has just looked at the queue.
    const second = r.remove('a\n', ['k:1']).then(() => r.remove('b\n', ['k:2']));
    await second;
    await r.clear(['k:2']);
    await r.settled();
  });
});
