import { prng } from '../../bench/prng.js'

/** A seeded PRNG for tests (mulberry32), so every random run reproduces from its seed. */
export function rng(seed: number) {
  const next = prng(seed)
  return {
    next,
    int: (n: number) => Math.floor(next() * n),
    big: (n: bigint) => BigInt(Math.floor(next() * Number(n))),
    pick: <T>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)]!,
    bytes: (n: number) => Uint8Array.from({ length: n }, () => Math.floor(next() * 256)),
    chance: (p: number) => next() < p,
  }
}
