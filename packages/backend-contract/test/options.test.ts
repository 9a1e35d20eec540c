import { describe, expect, it } from 'vitest';
import { type ContractOptions, runBackendContract } from '../src/index.js';

const valid: ContractOptions = {
  name: 'options-check',
  setup: async () => {
    throw new Error('setup must not run: registration is expected to fail first');
  },
  capabilities: {
    limits: false,
    networking: false,
    tty: false,
    privileged: false,
    diskLimits: false,
    metrics: false,
    cpuLimitsReadBack: 'shares',
  },
};

describe('runBackendContract option validation', () => {
  it('rejects an empty name', () => {
    expect(() => runBackendContract({ ...valid, name: '' })).toThrow(/options\.name/);
  });

  it('rejects an unknown feature name and a non-boolean optional capability', () => {
    expect(() => runBackendContract({ ...valid, features: ['properties', 'nope'] })).toThrow(
      /options\.features: no feature named "nope"/,
    );
    expect(() =>
      runBackendContract({ ...valid, capabilities: { ...valid.capabilities, events: 'yes' as never } }),
    ).toThrow(/capabilities\.events must be a boolean/);
  });

  it('rejects peas without an image to run them from', () => {
    const capabilities = { ...valid.capabilities, peas: true };
    expect(() => runBackendContract({ ...valid, capabilities })).toThrow(
      /options\.peaImage must name an image/,
    );
    expect(() =>
      runBackendContract({ ...valid, capabilities: { ...valid.capabilities, diskQuotas: 1 as never } }),
    ).toThrow(/capabilities\.diskQuotas must be a boolean/);
  });

  it('rejects a missing setup function', () => {
    expect(() => runBackendContract({ ...valid, setup: undefined as never })).toThrow(/options\.setup/);
  });

  it.each([0, -1, Number.NaN, Number.POSITIVE_INFINITY])('rejects timeScale %s', (timeScale) => {
    expect(() => runBackendContract({ ...valid, timeScale })).toThrow(/options\.timeScale/);
  });

  it('rejects a capability manifest with a missing flag, naming it', () => {
    const { metrics: _dropped, ...partial } = valid.capabilities;
    expect(() => runBackendContract({ ...valid, capabilities: partial as never })).toThrow(
      /options\.capabilities\.metrics must be a boolean/,
    );
  });

  it('rejects an unknown CPU read-back kind', () => {
    const capabilities = { ...valid.capabilities, cpuLimitsReadBack: 'weight' as never };
    expect(() => runBackendContract({ ...valid, capabilities })).toThrow(
      /options\.capabilities\.cpuLimitsReadBack must be 'shares' or 'v2-weight', got weight/,
    );
  });

  it('rejects a missing capability manifest', () => {
    expect(() => runBackendContract({ ...valid, capabilities: undefined as never })).toThrow(
      /options\.capabilities\.limits/,
    );
  });
});
