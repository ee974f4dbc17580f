// C++ twin of src/backend/rng.ts: the counter-based hash behind dropout masks. Must stay bit-identical
// to the TypeScript (test/backend/parity*.test.ts checks masks element by element).
// Not a general-purpose RNG.
#pragma once
#include <cmath>
#include <cstdint>

namespace ft {

/** murmur3's 32-bit finaliser. */
inline uint32_t fmix32(uint32_t h) {
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}

constexpr uint32_t kIndexMul = 0x9e3779b1u;

/** 32 random bits for element `index` (taken mod 2^32) under `seed`; hashed seed precomputed by the caller. */
inline uint32_t hash32_pre(uint32_t seed_mixed, uint32_t index) { return fmix32((index * kIndexMul) ^ seed_mixed); }

/**
 * The same bits for consecutive indices: start with mixed = index * kIndexMul (mod 2^32), call
 * hash32_mixed(seed_mixed, mixed), then add kIndexMul for the next index. Saves the vector multiply
 * per element that dominates on CPUs with slow 32-bit vector multiplies (1.5x on the dropout loops).
 */
inline uint32_t hash32_mixed(uint32_t seed_mixed, uint32_t mixed_index) { return fmix32(mixed_index ^ seed_mixed); }

inline uint32_t hash32(uint32_t seed, uint32_t index) { return hash32_pre(fmix32(seed), index); }

/** Drop when hash32 < threshold; p in [0, 1) (validated by the caller). Same rounding as rng.ts (double math). */
inline uint32_t dropout_threshold(double p) {
  double t = std::floor(p * 4294967296.0);
  return t >= 4294967295.0 ? 4294967295u : static_cast<uint32_t>(t);
}

}  // namespace ft
