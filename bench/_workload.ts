/**
 * The rollout scenario's deterministic workload, shared by bench/rollouts.ts and bench/_instructions.ts so
 * that timings and instruction counts measure the same spans.
 */
/** Deterministic pseudo-random numbers, so every backend gets the same workload. */
export function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One span's attributes. */
export type Attrs = Record<string, string | number | boolean>;

/** A pool of attribute maps (5..40 attributes, LLM-span-like values), reused by the runners: building them is the runner's cost, not the store's. */
export function attributePool(random: () => number, size: number): Attrs[] {
  return Array.from({ length: size }, () => {
    const count = 5 + Math.floor(random() * 36);
    const attrs: Attrs = {};
    for (let i = 0; i < count; i++) {
      const kind = i % 4;
      attrs[`gen_ai.attr_${i}`] =
        kind === 0
          ? `value-${Math.floor(random() * 1e6)}`
          : kind === 1
            ? Math.floor(random() * 4096)
            : kind === 2
              ? random()
              : random() < 0.5;
    }
    return attrs;
  });
}
