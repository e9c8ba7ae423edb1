/** Output helpers shared by commands: JSON or aligned tables, and a progress bar on long work. */
import cliProgress from 'cli-progress';

/** Where commands write; injectable so tests can capture output. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
  /** Whether stderr is a terminal (progress bars only then). */
  interactive: boolean;
}

/** The process's stdout/stderr. */
export const processIo: Io = {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
  interactive: Boolean(process.stderr.isTTY),
};

/** Prints rows as an aligned text table. */
export function table(io: Io, rows: Array<Record<string, unknown>>, columns: string[]): void {
  const cells = rows.map((row) => columns.map((c) => formatCell(row[c])));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i]!.length)));
  io.out(columns.map((c, i) => c.toUpperCase().padEnd(widths[i]!)).join('  '));
  for (const r of cells) io.out(r.map((cell, i) => cell.padEnd(widths[i]!)).join('  '));
}

function formatCell(value: unknown): string {
  if (value === null || value === undefined) return '-';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** Formats epoch seconds as an ISO time. */
export const isoSeconds = (seconds: number | null | undefined): string =>
  typeof seconds === 'number' ? new Date(seconds * 1000).toISOString() : '-';

/** A progress reporter: a bar on a terminal, nothing otherwise (and never in --json mode). */
export interface Progress {
  update(done: number, total: number): void;
  stop(): void;
}

/** Creates a progress reporter for a long task. */
export function progress(io: Io, enabled: boolean, label: string): Progress {
  if (!enabled || !io.interactive) return { update() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    { format: `${label} [{bar}] {percentage}% | {value}/{total} pages`, stream: process.stderr },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(done, total) {
      if (!started) {
        bar.start(total, done);
        started = true;
      } else {
        bar.setTotal(total);
        bar.update(done);
      }
    },
    stop() {
      if (started) bar.stop();
    },
  };
}

/** Progress of a backup, verify or restore (see `BackupProgress`). */
export interface TransferUpdate {
  records: number;
  bytes: number;
  totalRecords?: number;
  totalBytes?: number;
}

/**
 * A progress bar for backups on a terminal: records and megabytes, rate and ETA (nothing otherwise, and
 * never with --json). Without a known total (create), the bar shows the counts and rate only.
 */
export function transferProgress(
  io: Io,
  enabled: boolean,
  label: string,
): { update(p: TransferUpdate): void; stop(): void } {
  if (!enabled || !io.interactive) return { update() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    {
      format: `${label} [{bar}] {percentage}% | {records} records | {mb} MB | {rate} MB/s | ETA {eta_formatted}`,
      stream: process.stderr,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  const started = performance.now();
  let running = false;
  return {
    update(p) {
      const total = p.totalBytes ?? Math.max(p.bytes, 1);
      const seconds = Math.max((performance.now() - started) / 1000, 0.001);
      const payload = {
        records: p.records,
        mb: (p.bytes / 1e6).toFixed(1),
        rate: (p.bytes / 1e6 / seconds).toFixed(1),
      };
      if (!running) {
        bar.start(total, p.bytes, payload);
        running = true;
      } else {
        bar.setTotal(total);
        bar.update(p.bytes, payload);
      }
    },
    stop() {
      if (running) bar.stop();
      running = false;
    },
  };
}
