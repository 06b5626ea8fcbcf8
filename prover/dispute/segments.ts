/**
 * Segments of the bisection game (docs/disputes.md), as DisputeGame.sol computes them (its
 * `bisectionPoints` view; test/dispute-e2e checks the two agree): a segment
 * [start, start + len] is split into k = min(D, len) parts at p_j = start + ⌊len · j / k⌋, and a
 * bisection is the k + 1 machine hashes at those points.
 */
import type { Hex } from 'viem'

/** The k + 1 points of a bisection of [start, start + len] with degree D. */
export function bisectionPoints(start: bigint, len: bigint, degree: bigint): bigint[] {
  if (len < 1n) throw new Error('a segment has at least one step')
  const k = len < degree ? len : degree
  const out: bigint[] = []
  for (let j = 0n; j <= k; j++) out.push(start + (len * j) / k)
  return out
}

/**
 * The sub-segment to dispute: the first i whose start hash we share and whose end hash we do not.
 * `theirs` and `ours` are hashes at the same points; theirs[0] must equal ours[0].
 */
export function firstDisagreement(theirs: readonly Hex[], ours: readonly Hex[]): number {
  if (theirs[0] !== ours[0]) throw new Error('the bisection does not start from a hash we agree with')
  for (let i = 0; i + 1 < theirs.length; i++) if (theirs[i + 1] !== ours[i + 1]) return i
  throw new Error('we agree with every point of the bisection: nothing to dispute')
}

/** ⌈log_D(n)⌉: the bisection rounds a segment of n steps takes before a single step remains. */
export function roundsFor(n: bigint, degree: bigint): number {
  let r = 0
  for (let len = n; len > 1n; r++) len = (len + degree - 1n) / degree
  return r
}
