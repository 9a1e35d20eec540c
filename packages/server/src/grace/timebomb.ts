/**
 * One container's grace-time countdown, with exactly the state machine of Go's
 * `server/timebomb` (protocol §9.2): pauses are counted, every unpause to zero restarts the full
 * countdown, and checks are "≠ 0" (a negative countdown fires at once; 0 never starts on
 * strap/unpause but does on reset).
 */
import { type Duration, toMillis } from '@garden-ts/api-types';

// setTimeout overflows above 2^31−1 ms (~24.8 days); longer countdowns are chained.
const MAX_TIMER_MS = 2 ** 31 - 1;

export class TimeBomb {
  private countdown: Duration;
  private pauses = 0;
  private timer: NodeJS.Timeout | undefined;
  private defused = false;
  private detonated = false;

  constructor(
    countdown: Duration,
    private readonly onDetonate: () => void,
  ) {
    this.countdown = countdown;
  }

  /** Arms the bomb: starts the countdown unless it is 0. */
  strap(): void {
    if (this.countdown !== 0n) this.start();
  }

  /** A touching request began: stop the countdown. */
  pause(): void {
    this.pauses++;
    this.stop();
  }

  /** A touching request ended: when none is left, restart the full countdown (unless it is 0). */
  unpause(): void {
    if (this.pauses > 0) this.pauses--;
    if (this.pauses === 0 && !this.defused && this.countdown !== 0n) this.start();
  }

  /** The container was destroyed through the API: never fire. */
  defuse(): void {
    this.defused = true;
    this.stop();
  }

  /**
   * SetGraceTime: take the new countdown; restart when a timer was running or nothing holds the
   * container. No check for 0, so 0 fires (almost) at once.
   */
  reset(countdown: Duration): void {
    this.countdown = countdown;
    const wasRunning = this.timer !== undefined;
    this.stop();
    if (!this.defused && (wasRunning || this.pauses === 0)) this.start();
  }

  /** True while a countdown is running. */
  get running(): boolean {
    return this.timer !== undefined;
  }

  /** Current number of in-flight touching requests. */
  get pauseCount(): number {
    return this.pauses;
  }

  private start(): void {
    this.stop();
    if (this.detonated) return;
    this.arm(Math.max(0, toMillis(this.countdown)));
  }

  private arm(remainingMs: number): void {
    const step = Math.min(remainingMs, MAX_TIMER_MS);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (remainingMs > step) {
        this.arm(remainingMs - step);
        return;
      }
      this.detonated = true;
      this.onDetonate();
    }, step);
    // A pending countdown must not keep the process alive on its own.
    this.timer.unref?.();
  }

  private stop(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }
}
