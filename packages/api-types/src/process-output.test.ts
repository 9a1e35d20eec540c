import { PassThrough, Writable } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_OUTPUT_BACKLOG_LIMIT, ProcessOutput } from './process-output.js';

function sink(): Writable & { bytes(): Buffer; text(): string } {
  const chunks: Buffer[] = [];
  const w = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk);
      cb();
    },
  });
  const bytes = (): Buffer => Buffer.concat(chunks);
  return Object.assign(w, { bytes, text: () => bytes().toString() });
}

/** A writable that never finishes a write, so it stays backpressured until destroyed. */
function stuck(): Writable {
  return new Writable({ highWaterMark: 1, write: () => {} });
}

const b = (s: string): Buffer => Buffer.from(s);
const EVENTS = ['close', 'error', 'drain'] as const;
const listeners = (w: Writable): number[] => EVENTS.map((e) => w.listenerCount(e));

describe('ProcessOutput fan-out', () => {
  it('writes each chunk to every current attacher of its stream', () => {
    const out = new ProcessOutput();
    const [o1, o2, e1] = [sink(), sink(), sink()];
    out.attach(o1, undefined);
    out.attach(o2, e1);
    out.write('stdout', b('out'));
    out.write('stderr', b('err'));
    expect([o1.text(), o2.text(), e1.text()]).toEqual(['out', 'out', 'err']);
    expect(out.undelivered('stdout') + out.undelivered('stderr')).toBe(0);
    expect(out.attachedCount).toBe(2);
  });

  it('accepts one writable for both streams and listens on it once', () => {
    const out = new ProcessOutput();
    const merged = sink();
    const before = listeners(merged);
    out.attach(merged, merged);
    expect(merged.listenerCount('close')).toBe(before[0]! + 1);
    out.write('stdout', b('a'));
    out.write('stderr', b('b'));
    expect(merged.text()).toBe('ab');
    out.detachAll();
    expect(listeners(merged)).toEqual(before);
  });

  it('ignores empty chunks: nothing written, nothing kept', () => {
    const out = new ProcessOutput();
    expect(out.write('stdout', Buffer.alloc(0))).toBeUndefined();
    expect(out.undelivered('stdout')).toBe(0);
  });

  it('never ends the caller writables', () => {
    const out = new ProcessOutput();
    const s = sink();
    out.attach(s, s);
    out.write('stdout', b('x'));
    out.detachAll();
    expect(s.writableEnded).toBe(false);
    expect(s.destroyed).toBe(false);
  });
});

describe('ProcessOutput backlog', () => {
  it('buffers per stream while nobody can receive it and hands it to the next capable attacher', () => {
    const out = new ProcessOutput();
    out.write('stdout', b('o1'));
    out.write('stderr', b('e1'));
    const onlyStdout = sink();
    out.attach(onlyStdout, undefined);
    expect(onlyStdout.text()).toBe('o1');
    out.write('stderr', b('e2'));
    expect(out.undelivered('stderr')).toBe(4);
    const both = sink();
    const errs = sink();
    out.attach(both, errs);
    expect([both.text(), errs.text()]).toEqual(['', 'e1e2']);
    out.write('stdout', b('o2'));
    expect([onlyStdout.text(), both.text()]).toEqual(['o1o2', 'o2']);
  });

  it('does not keep an attacher without writables, and it takes no backlog', () => {
    const out = new ProcessOutput();
    out.write('stdout', b('kept'));
    const attachment = out.attach(undefined, undefined);
    expect(attachment.attached).toBe(false);
    expect(out.attachedCount).toBe(0);
    expect(out.undelivered('stdout')).toBe(4);
  });

  it('hands the backlog to an attacher that is detached right away (attach after exit)', () => {
    const out = new ProcessOutput();
    out.write('stdout', b('late'));
    const s = sink();
    out.attach(s, undefined).detach();
    expect(s.text()).toBe('late');
    expect(out.attachedCount).toBe(0);
    expect(out.undelivered('stdout')).toBe(0);
  });

  it('discard() detaches everyone and drops both backlogs (the container is gone)', () => {
    const out = new ProcessOutput();
    out.write('stdout', b('unread'));
    out.write('stderr', b('unread too'));
    const s = sink();
    out.attach(undefined, undefined);
    out.attach(undefined, s);
    out.discard();
    expect([out.undelivered('stdout'), out.undelivered('stderr'), out.attachedCount]).toEqual([0, 0, 0]);
  });

  it('drops the oldest bytes beyond the bound, splitting a chunk if needed', () => {
    const out = new ProcessOutput(5);
    out.write('stdout', b('abc'));
    out.write('stdout', b('defg'));
    expect(out.undelivered('stdout')).toBe(5);
    const s = sink();
    out.attach(s, undefined);
    expect(s.text()).toBe('cdefg');
    const none = new ProcessOutput(0);
    none.write('stdout', b('x'));
    expect(none.undelivered('stdout')).toBe(0);
  });

  it('defaults to a 1 MiB bound per stream', () => {
    expect(DEFAULT_OUTPUT_BACKLOG_LIMIT).toBe(1024 * 1024);
    const out = new ProcessOutput();
    out.write('stdout', Buffer.alloc(DEFAULT_OUTPUT_BACKLOG_LIMIT + 10, 1));
    out.write('stderr', Buffer.alloc(3, 2));
    expect(out.undelivered('stdout')).toBe(DEFAULT_OUTPUT_BACKLOG_LIMIT);
    expect(out.undelivered('stderr')).toBe(3);
  });

  it('keeps exactly the newest min(limit, total) bytes of any chunk sequence', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 64 }),
        fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 12 }),
        (limit, chunks) => {
          const out = new ProcessOutput(limit);
          for (const chunk of chunks) out.write('stdout', chunk);
          const all = Buffer.concat(chunks);
          const expected = all.subarray(Math.max(0, all.length - limit));
          expect(out.undelivered('stdout')).toBe(expected.length);
          const s = sink();
          out.attach(s, undefined);
          expect(s.bytes().equals(expected)).toBe(true);
          expect(out.undelivered('stdout')).toBe(0);
        },
      ),
    );
  });
});

describe('ProcessOutput detach', () => {
  it("detaches on 'close' and removes its listeners", () => {
    const out = new ProcessOutput();
    const s = new PassThrough();
    const before = listeners(s);
    const attachment = out.attach(s, s);
    expect(out.attachedCount).toBe(1);
    s.emit('close');
    expect(attachment.attached).toBe(false);
    expect(out.attachedCount).toBe(0);
    expect(listeners(s)).toEqual(before);
    out.write('stdout', b('later'));
    expect(out.undelivered('stdout')).toBe(5);
  });

  it('detaches when either writable is destroyed, leaving the other one listener-free too', async () => {
    const out = new ProcessOutput();
    const [o, e] = [sink(), sink()];
    const before = [listeners(o), listeners(e)];
    const attachment = out.attach(o, e);
    e.destroy();
    await new Promise((resolve) => e.once('close', resolve));
    expect(attachment.attached).toBe(false);
    expect([listeners(o), listeners(e)]).toEqual(before);
    out.write('stdout', b('x'));
    expect(o.text()).toBe('');
    expect(out.undelivered('stdout')).toBe(1);
  });

  it("detaches on 'error' of a writable", () => {
    const out = new ProcessOutput();
    const s = new PassThrough();
    const attachment = out.attach(s, undefined);
    s.on('error', () => {});
    s.emit('error', new Error('client went away'));
    expect(attachment.attached).toBe(false);
    expect(out.attachedCount).toBe(0);
  });

  // Checked synchronously: 'close' follows on a later tick, so only the state check can notice.
  it.each([
    ['ended', 'stdout', (w: Writable) => w.end()],
    ['destroyed', 'stderr', (w: Writable) => w.destroy()],
  ] as const)('detaches an attacher whose writable was %s behind its back', (_, stream, goAway) => {
    const out = new ProcessOutput();
    const s = sink();
    out.attach(stream === 'stdout' ? s : undefined, stream === 'stderr' ? s : undefined);
    goAway(s);
    out.write(stream, b('x'));
    expect(out.attachedCount).toBe(0);
    expect(out.undelivered(stream)).toBe(1);
  });

  it('detaches an attacher whose write throws, still delivering to the others', () => {
    const out = new ProcessOutput();
    const bad = sink();
    bad.write = () => {
      throw new Error('boom');
    };
    const good = sink();
    const badAttachment = out.attach(bad, undefined);
    out.attach(good, undefined);
    expect(out.write('stdout', b('z'))).toBeUndefined();
    expect(badAttachment.attached).toBe(false);
    expect(good.text()).toBe('z');
    expect(out.attachedCount).toBe(1);
  });

  it('detach and detachAll are idempotent and run detach callbacks once', () => {
    const out = new ProcessOutput();
    const attachment = out.attach(sink(), undefined);
    let calls = 0;
    attachment.whenDetached(() => calls++);
    const removed = attachment.whenDetached(() => calls++);
    removed();
    out.detachAll();
    attachment.detach();
    out.detachAll();
    expect(calls).toBe(1);
    expect(out.attachedCount).toBe(0);
  });
});

describe('ProcessOutput backpressure', () => {
  it("returns a promise on backpressure that settles on 'drain', leaving no listener", async () => {
    const out = new ProcessOutput();
    const slow = new Writable({ highWaterMark: 1, write: (_c, _e, cb) => setTimeout(cb, 5) });
    out.attach(slow, undefined);
    const wait = out.write('stdout', b('xx'));
    expect(wait).toBeInstanceOf(Promise);
    await wait;
    expect(slow.listenerCount('drain')).toBe(0);
  });

  it('returns nothing when no writable asked for backpressure', () => {
    const out = new ProcessOutput();
    out.attach(sink(), undefined);
    expect(out.write('stdout', b('x'))).toBeUndefined();
    expect(out.write('stderr', b('nobody'))).toBeUndefined();
  });

  it('settles a pending wait when its attacher detaches, leaving no listener', async () => {
    const out = new ProcessOutput();
    const s = stuck();
    const attachment = out.attach(s, undefined);
    const pending = out.write('stdout', b('yy'));
    expect(s.listenerCount('drain')).toBe(1);
    attachment.detach();
    await pending;
    expect(s.listenerCount('drain')).toBe(0);
  });

  it('settles pending waits on detachAll (process end)', async () => {
    const out = new ProcessOutput();
    out.attach(stuck(), undefined);
    out.attach(undefined, stuck());
    const waits = [out.write('stdout', b('a')), out.write('stderr', b('b'))];
    expect(waits.every((w) => w instanceof Promise)).toBe(true);
    out.detachAll();
    await Promise.all(waits);
  });

  it('shares one drain listener across repeated backpressured writes', async () => {
    const out = new ProcessOutput();
    const s = stuck();
    const attachment = out.attach(s, s);
    const waits = Array.from({ length: 20 }, (_, i) => out.write(i % 2 ? 'stderr' : 'stdout', b('.')));
    expect(waits.every((w) => w instanceof Promise)).toBe(true);
    expect(s.listenerCount('drain')).toBe(1);
    attachment.detach();
    await Promise.all(waits);
    expect(s.listenerCount('drain')).toBe(0);
  });

  it('waits for every backpressured attacher, not just the first to drain', async () => {
    const out = new ProcessOutput();
    const fast = new Writable({ highWaterMark: 1, write: (_c, _e, cb) => setImmediate(cb) });
    const blocked = stuck();
    out.attach(fast, undefined);
    const slowAttachment = out.attach(blocked, undefined);
    let settled = false;
    const wait = out.write('stdout', b('zz'));
    void wait?.then(() => {
      settled = true;
    });
    await new Promise((resolve) => fast.once('drain', resolve));
    await new Promise((resolve) => setImmediate(resolve));
    expect(settled).toBe(false);
    slowAttachment.detach();
    await wait;
    expect(settled).toBe(true);
  });
});
