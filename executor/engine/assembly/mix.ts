// The 64-bit finalizer of MurmurHash3: spreads keys over open-addressing tables, so that
// sequential order ids or similar addresses do not cluster into long probe runs.

/** Mixes `x` into a 32-bit table hash. */
@inline export function mix64(x: u64): u32 {
  x ^= x >> 33;
  x *= 0xFF51AFD7ED558CCD;
  x ^= x >> 33;
  x *= 0xC4CEB9FE1A85EC53;
  x ^= x >> 33;
  return <u32>x;
}
