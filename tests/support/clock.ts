/** A manual clock for tests: `now()` returns `time`, `advance(ms)` moves it. */
export class ManualClock {
  time: number;
  constructor(start = Date.UTC(2026, 0, 1)) {
    this.time = start;
  }
  readonly now = (): number => this.time;
  advance(ms: number): void {
    this.time += ms;
  }
}
