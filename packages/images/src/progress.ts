/** Pull progress: what a backend surfaces to the server (and a CLI can draw). */

export interface PullProgress {
  /** The image URI as the create named it. */
  image: string;
  phase: 'resolving' | 'downloading' | 'layer-done' | 'done';
  /** The layer this event is about (its blob digest), for `downloading` and `layer-done`. */
  layer?: string;
  /** Bytes of that layer read so far, and its size when known. */
  layerBytes?: number;
  layerSize?: number;
  /** Layers complete (downloaded now or already in the store) and in the image. */
  layersDone: number;
  layersTotal: number;
  /** Bytes read for the whole pull so far, and the sum of the layer sizes still to fetch. */
  bytes: number;
  totalBytes: number;
}

/** Fan-out of one pull's progress to every create waiting for it, rate-limited per layer. */
export class ProgressTracker {
  private readonly listeners = new Set<(p: PullProgress) => void>();
  private readonly layerBytes = new Map<string, number>();
  private readonly lastEmit = new Map<string, number>();
  layersDone = 0;
  layersTotal = 0;
  totalBytes = 0;

  constructor(
    readonly image: string,
    private readonly intervalMs = 100,
  ) {}

  subscribe(fn: (p: PullProgress) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private bytes(): number {
    let n = 0;
    for (const b of this.layerBytes.values()) n += b;
    return n;
  }

  private emit(p: Omit<PullProgress, 'image' | 'layersDone' | 'layersTotal' | 'bytes' | 'totalBytes'>): void {
    const full: PullProgress = {
      image: this.image,
      layersDone: this.layersDone,
      layersTotal: this.layersTotal,
      bytes: this.bytes(),
      totalBytes: this.totalBytes,
      ...p,
    };
    for (const fn of this.listeners) {
      try {
        fn(full);
      } catch {
        // a listener's failure is not the pull's
      }
    }
  }

  resolving(): void {
    this.emit({ phase: 'resolving' });
  }

  /** The pull knows its layers; `cached` of them are already in the store. */
  planned(total: number, cached: number, bytesToFetch: number): void {
    this.layersTotal = total;
    this.layersDone = cached;
    this.totalBytes = bytesToFetch;
  }

  downloading(layer: string, bytes: number, size: number | undefined): void {
    this.layerBytes.set(layer, bytes);
    const now = Date.now();
    if (now - (this.lastEmit.get(layer) ?? 0) < this.intervalMs) return;
    this.lastEmit.set(layer, now);
    this.emit({
      phase: 'downloading',
      layer,
      layerBytes: bytes,
      ...(size !== undefined ? { layerSize: size } : {}),
    });
  }

  /** A layer attempt failed and starts again: its bytes count from zero. */
  restart(layer: string): void {
    this.layerBytes.set(layer, 0);
  }

  layerDone(layer: string, size: number | undefined): void {
    this.layersDone++;
    const bytes = this.layerBytes.get(layer) ?? 0;
    this.emit({
      phase: 'layer-done',
      layer,
      layerBytes: bytes,
      ...(size !== undefined ? { layerSize: size } : {}),
    });
  }

  done(): void {
    this.emit({ phase: 'done' });
  }
}
