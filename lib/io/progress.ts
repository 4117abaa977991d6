// Progress of long work on stderr: a bar with an ETA redrawn in place on a terminal; when piped (a log
// file), whole lines, at most one every few seconds, so the log stays readable; nothing when quiet.

export interface ProgressOptions {
  /** Print nothing. */
  quiet?: boolean;
  /** Default process.stderr. */
  stream?: { write(s: string): unknown; isTTY?: boolean; columns?: number };
  /** Seconds between lines when the stream is not a terminal (default 5). */
  interval?: number;
  /** Units already done before this run (a resumed training), left out of the rate. */
  from?: number;
}

/** 75 → '1m15s'; under a minute with one decimal below ten seconds. */
export function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  if (seconds < 10) return `${seconds.toFixed(1)}s`;
  if (seconds < 60) return `${Math.round(seconds)}s`;
  const m = Math.floor(seconds / 60);
  return m < 60 ? `${m}m${String(Math.round(seconds % 60)).padStart(2, '0')}s` : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

export class Progress {
  private readonly started = performance.now();
  private lastLine = -Infinity;
  private drawn = false;
  private complete = false;
  private readonly stream: NonNullable<ProgressOptions['stream']>;

  /** `total` units of work (images, steps); update() reports how many are done, fractions allowed. */
  constructor(private readonly label: string, private readonly total: number, private readonly opts: ProgressOptions = {}) {
    this.stream = opts.stream ?? process.stderr;
  }

  update(done: number, detail = ''): void {
    if (this.opts.quiet) return;
    const elapsed = (performance.now() - this.started) / 1000;
    const fraction = this.total > 0 ? Math.min(1, Math.max(0, done / this.total)) : 1;
    const from = this.opts.from ?? 0;
    const eta = done > from ? (elapsed * (this.total - done)) / (done - from) : Infinity;
    const count = `${Number.isInteger(done) ? done : done.toFixed(1)}/${this.total}`;
    const text = `${this.label} ${count}${detail ? ` ${detail}` : ''} · ${duration(elapsed)} elapsed, ETA ${duration(eta)}`;
    if (this.stream.isTTY) {
      const width = 24;
      const filled = Math.round(fraction * width);
      const line = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${Math.round(fraction * 100)}% ${text}`;
      this.stream.write(`\r${line.slice(0, (this.stream.columns ?? 120) - 1)}\x1b[K`);
      this.drawn = true;
    } else if ((elapsed - this.lastLine >= (this.opts.interval ?? 5) || fraction === 1) && !this.complete) {
      this.stream.write(`${Math.round(fraction * 100)}% ${text}\n`);
      this.lastLine = elapsed;
      this.complete = fraction === 1;
    }
  }

  /** Ends the bar's line on a terminal (a piped log already ends each line). */
  finish(): void {
    if (this.drawn && !this.opts.quiet) this.stream.write('\n');
    this.drawn = false;
  }
}
