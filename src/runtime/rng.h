/* Internal: splitmix64 (Steele, Lea, Flood 2014), the one generator every
 * seeded choice uses: weight init, drop-path, the RL controller, data splits,
 * shuffles and augmentation. Counter-based uses hash a key with rd_mix64. */
#ifndef RADARS_RNG_H
#define RADARS_RNG_H

#include <stdint.h>

#define RD_SPLITMIX64_GAMMA 0x9e3779b97f4a7c15ull

/* splitmix64's finaliser */
static inline uint64_t rd_splitmix64_mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
/* The next output of the generator whose state is *s. */
static inline uint64_t rd_splitmix64_next(uint64_t *s) { return rd_splitmix64_mix(*s += RD_SPLITMIX64_GAMMA); }
/* Uniform double in [0, 1) with 53 random bits. */
static inline double rd_splitmix64_uniform(uint64_t *s) {
    return (double)(rd_splitmix64_next(s) >> 11) * (1.0 / 9007199254740992.0);
}
/* A key hashed: the first output of a generator seeded with x. */
static inline uint64_t rd_mix64(uint64_t x) { return rd_splitmix64_mix(x + RD_SPLITMIX64_GAMMA); }

#endif
