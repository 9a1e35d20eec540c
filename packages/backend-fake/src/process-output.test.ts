import { PassThrough, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ProcessOutput } from './process-output.js';

function sink(): Writable & { text(): string } {
  const chunks: Buffer[] = [];
  const w = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk);
      cb();
    },
  });
  return Object.assign(w, { text: () => Buffer.concat(chunks).toString() });
}

const b = (s: string): Buffer => Buffer.from(s);

describe('ProcessOutput', () => {
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

  it('drops the oldest bytes beyond the bound, splitting a chunk if needed', () => {
    const out = new ProcessOutput(5);
    out.write('stdout', b('abc'));
    out.write('stdout', b('defg'));
    const s = sink();
    out.attach(s, undefined);
    expect(s.text()).toBe('cdefg');
    const none = new ProcessOutput(0);
    none.write('stdout', b('x'));
    expect(none.undelivered('stdout')).toBe(0);
  });

  it("detaches on 'close' and removes its listeners", () => {
    const out = new ProcessOutput();
    const s = new PassThrough();
    const before = ['close', 'error'].map((e) => s.listenerCount(e));
    const attachment = out.attach(s, s);
    expect(out.attachedCount).toBe(1);
    s.emit('close');
    expect(attachment.attached).toBe(false);
    expect(out.attachedCount).toBe(0);
    expect(['close', 'error'].map((e) => s.listenerCount(e))).toEqual(before);
    out.write('stdout', b('later'));
    expect(out.undelivered('stdout')).toBe(5);
  });

  it('detaches an attacher whose writable was ended behind its back', () => {
    const out = new ProcessOutput();
    const s = sink();
    out.attach(s, undefined);
    s.end();
    out.write('stdout', b('x'));
    expect(out.attachedCount).toBe(0);
    expect(out.undelivered('stdout')).toBe(1);
  });

  it('returns a promise on backpressure that settles on drain or detach', async () => {
    const out = new ProcessOutput();
    const slow = new Writable({ highWaterMark: 1, write: (_c, _e, cb) => setTimeout(cb, 5) });
    out.attach(slow, undefined);
    const wait = out.write('stdout', b('xx'));
    expect(wait).toBeInstanceOf(Promise);
    await wait;
    expect(slow.listenerCount('drain')).toBe(0);
    const stuck = new Writable({ highWaterMark: 1, write: () => {} });
    const attachment = out.attach(stuck, undefined);
    const pending = out.write('stdout', b('yy'));
    attachment.detach();
    await pending;
    expect(stuck.listenerCount('drain')).toBe(0);
  });
});
