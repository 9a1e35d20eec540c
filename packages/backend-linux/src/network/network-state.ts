/**
 * The networker's state a restarted server must know beyond the records, in `<depot>/network.json`
 * (write-through, atomic): where the NetIn port rotation stands, and whether IPv4 forwarding was
 * switched on by us (so the last container's exit can switch it back off after a restart).
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { NetworkLog } from './types.js';

export interface SavedNetworkState {
  /** The port the NetIn pool hands out next. */
  portPoolNext?: number;
  forwardingSwitchedOn: boolean;
}

export class NetworkStateFile {
  constructor(
    /** Absent: nothing is kept (a restart starts the rotation afresh). */
    private readonly file: string | undefined,
    /** The state as it stands now (read at each save). */
    private readonly current: () => SavedNetworkState,
    private readonly log: NetworkLog,
  ) {}

  /** Writes the current state (temp + rename); a failure is logged, never thrown. */
  save(): void {
    const file = this.file;
    if (!file) return;
    try {
      const { portPoolNext, forwardingSwitchedOn } = this.current();
      const state = { portPoolNext, forwardingSwitchedOn };
      writeFileSync(`${file}.tmp`, JSON.stringify(state), { mode: 0o600 });
      renameSync(`${file}.tmp`, file);
    } catch (e) {
      this.log.warn({ file, err: (e as Error).message }, 'saving the network state');
    }
  }

  /** The saved state; undefined when there is none yet or it is unreadable (start afresh). */
  load(): SavedNetworkState | undefined {
    const file = this.file;
    if (!file) return undefined;
    try {
      const state = JSON.parse(readFileSync(file, 'utf8')) as {
        portPoolNext?: unknown;
        forwardingSwitchedOn?: unknown;
      };
      return {
        ...(Number.isInteger(state.portPoolNext) ? { portPoolNext: state.portPoolNext as number } : {}),
        forwardingSwitchedOn: state.forwardingSwitchedOn === true,
      };
    } catch {
      return undefined;
    }
  }
}
