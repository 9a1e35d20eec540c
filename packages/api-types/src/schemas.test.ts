import type { TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { describe, expect, it } from 'vitest';
import { parseGoJson } from './go-json.js';
import * as S from './schemas.js';
import { encodeBody, Wire } from './wire.js';

describe('schemas describe the wire', () => {
  it('what the codecs write validates against the schemas', () => {
    const bodies: Array<[TSchema, string]> = [
      [
        S.ContainerSpecSchema,
        encodeBody(Wire.containerSpec, { handle: 'h', limits: { memory: { limitInBytes: 1n } } }),
      ],
      [
        S.ContainerSpecSchema,
        encodeBody(Wire.containerSpec, { netOut: [{ protocol: 4, icmps: { code: 0 } }] }),
      ],
      [S.ProcessSpecSchema, encodeBody(Wire.processSpec, { path: 'sh', rlimits: { nofile: 0n }, tty: {} })],
      [S.NetOutRulesSchema, encodeBody(Wire.netOutRules, [{ networks: [{ start: '::1' }] }])],
      [S.NetOutRulesSchema, encodeBody(Wire.netOutRules, null)],
      [S.NetInRequestSchema, encodeBody(Wire.netInRequest, { hostPort: 1, containerPort: 2 })],
      [S.StopRequestSchema, encodeBody(Wire.stopRequest, true)],
      [S.PropertyValueSchema, encodeBody(Wire.propertyValue, 'v')],
      [S.GraceTimeSchema, encodeBody(Wire.graceTime, 5n)],
      [S.ProcessPayloadSchema, encodeBody(Wire.processPayload, { processId: 'p', source: 0, data: 'x' })],
      [S.ErrorEnvelopeSchema, encodeBody(Wire.errorEnvelope, new Error('x'))],
      [S.BulkInfoSchema, encodeBody(Wire.bulkInfo, { a: { error: new Error('x') } })],
    ];
    for (const [schema, body] of bodies) {
      expect(Value.Check(schema, parseGoJson(body)), body).toBe(true);
    }
  });

  it('integer fields are bigint schemas with the accepted range', () => {
    const limit = S.MemoryLimitsSchema.properties.limit_in_bytes!;
    expect(limit.type).toBe('bigint');
    expect([limit.minimum, limit.maximum]).toEqual([0n, 2n ** 64n - 1n]);
    expect([S.BindMountModeSchema.minimum, S.BindMountModeSchema.maximum]).toEqual([0n, 1n]);
    expect(S.ProtocolSchema.maximum).toBe(4n);
    expect([S.GraceTimeSchema.minimum, S.GraceTimeSchema.maximum]).toEqual([-(2n ** 63n), 2n ** 63n - 1n]);
    expect(Value.Check(S.BindMountModeSchema, 2n)).toBe(false);
    expect(Value.Check(S.GraceTimeSchema, 1.5)).toBe(false);
  });

  it('struct schemas list the Go keys in wire order', () => {
    expect(Object.keys(S.ContainerSpecSchema.properties)).toEqual([
      'handle',
      'grace_time',
      'rootfs',
      'image',
      'bind_mounts',
      'network',
      'properties',
      'env',
      'privileged',
      'limits',
      'netout_rules',
      'netin',
    ]);
    expect(Object.keys(S.ProcessPayloadSchema.properties)).toEqual([
      'process_id',
      'stream_id',
      'source',
      'data',
      'exit_status',
      'error',
      'tty',
      'signal',
    ]);
  });
});
