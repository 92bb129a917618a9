// Seeded randomness for everything the trainer must be able to repeat: splits,
// shuffles, initial weights. Math.random cannot be seeded.

/** A mulberry32 generator: uniform numbers in [0, 1), the same sequence for the same seed. */
export function createRandom(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Fisher-Yates shuffle in place (arrays and typed arrays); returns the same array. */
export function shuffle<A extends { length: number; [index: number]: unknown }>(items: A, random: () => number): A {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    const swap = items[i]
    items[i] = items[j]
    items[j] = swap
  }
  return items
}

/** 0, 1, …, count - 1 in a seeded random order. */
export function shuffledIndices(count: number, seed: number): number[] {
  return shuffle(
    Array.from({ length: count }, (_, i) => i),
    createRandom(seed),
  )
}
