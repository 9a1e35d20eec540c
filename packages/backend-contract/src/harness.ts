import { randomBytes } from 'node:crypto';
import type { Client, Container, ContainerSpec } from '@garden-ts/api-types';
import { afterAll, afterEach, beforeAll, beforeEach, describe } from 'vitest';
import type { BackendCapabilities, ContractOptions, ContractTarget } from './types.js';

/** Base timeouts before `timeScale` is applied. */
const TEST_TIMEOUT_MS = 5_000;
const HOOK_TIMEOUT_MS = 30_000;

/** What a feature file sees: the live client and helpers that clean up after themselves. */
export interface Harness {
  /** The client of the current feature block (valid inside hooks and tests). */
  readonly client: Client;
  readonly caps: BackendCapabilities;
  /** The image URI peas run from (`ContractOptions.peaImage`; set when `caps.peas`). */
  readonly peaImage: string | undefined;
  /** Scales a duration in milliseconds by the backend's `timeScale`. */
  ms(base: number): number;
  /** A handle unique to this run, readable in failure output. */
  handle(label: string): string;
  /**
   * Creates a container (with a unique handle unless the spec names one) and destroys it after
   * the current test, or after the block when called from `beforeAll`.
   */
  create(spec?: ContainerSpec): Promise<Container>;
  /** Registers a handle created some other way for the same cleanup. */
  track(handle: string): void;
}

/** A registered feature: a name and a function that declares its tests. */
export type Feature = (h: Harness) => void;

class FeatureHarness implements Harness {
  private target: ContractTarget | undefined;
  private readonly shared = new Set<string>();
  private readonly perTest = new Set<string>();
  private inTest = false;
  private counter = 0;

  constructor(
    private readonly options: ContractOptions,
    private readonly runId: string,
    private readonly feature: string,
  ) {}

  get client(): Client {
    if (!this.target)
      throw new Error('the contract target is not set up (use the client inside tests or hooks)');
    return this.target.client;
  }

  get caps(): BackendCapabilities {
    return this.options.capabilities;
  }

  get peaImage(): string | undefined {
    return this.options.peaImage;
  }

  ms(base: number): number {
    return Math.ceil(base * (this.options.timeScale ?? 1));
  }

  handle(label: string): string {
    this.counter += 1;
    return `${this.runId}-${this.feature}-${label}-${this.counter}`;
  }

  async create(spec: ContainerSpec = {}): Promise<Container> {
    const container = await this.client.create({ handle: this.handle('c'), ...spec });
    this.track(container.handle);
    return container;
  }

  track(handle: string): void {
    (this.inTest ? this.perTest : this.shared).add(handle);
  }

  async start(): Promise<void> {
    this.target = await this.options.setup();
  }

  beginTest(): void {
    this.inTest = true;
  }

  async endTest(): Promise<void> {
    this.inTest = false;
    await this.destroyAll(this.perTest);
  }

  async finish(): Promise<void> {
    if (!this.target) return;
    try {
      await this.destroyAll(this.shared);
    } finally {
      const target = this.target;
      this.target = undefined;
      await target.teardown();
    }
  }

  // Tests may already have destroyed their containers; cleanup must not fail on that.
  private async destroyAll(handles: Set<string>): Promise<void> {
    const list = [...handles];
    handles.clear();
    await Promise.all(list.map((handle) => this.client.destroy(handle).catch(() => undefined)));
  }
}

/**
 * Declares one feature block: a fresh target from `setup` for the block, a cleanup of every
 * container the block's tests created, and scaled timeouts.
 */
export function defineFeature(
  options: ContractOptions,
  runId: string,
  name: string,
  register: Feature,
): void {
  const harness = new FeatureHarness(options, runId, name);
  const hookTimeout = harness.ms(HOOK_TIMEOUT_MS);
  describe(name, { timeout: harness.ms(TEST_TIMEOUT_MS) }, () => {
    beforeAll(() => harness.start(), hookTimeout);
    beforeEach(() => harness.beginTest());
    afterEach(() => harness.endTest(), hookTimeout);
    afterAll(() => harness.finish(), hookTimeout);
    register(harness);
  });
}

/** A short random prefix so handles from concurrent or leftover runs never collide. */
export function newRunId(): string {
  return `contract-${randomBytes(3).toString('hex')}`;
}
