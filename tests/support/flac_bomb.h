/* flac_bomb.h: a valid FLAC stream of digital silence built by hand from
 * the format specification (RFC 9639): the largest block size (65535) and
 * CONSTANT subframes, about 3 bytes per channel for 65535 frames, so a few
 * kilobytes decode to minutes of 8-channel 384 kHz audio: the "audio bomb"
 * of issue 11. libFLAC (behind libsndfile) decodes it like any FLAC. */
#ifndef WIGGLY_TESTS_FLAC_BOMB_H
#define WIGGLY_TESTS_FLAC_BOMB_H

#include <stddef.h>
#include <stdint.h>

/* channels 1..8, rate < 2^20, frames > 0. claim: the total written in
 * STREAMINFO (0 = unknown, the decoder then counts). malloc'ed; NULL on
 * failure. */
unsigned char *flac_bomb(int channels, int rate, uint64_t frames, uint64_t claim, size_t *len);
/* Write it to path. 0 or -1. */
int flac_bomb_file(const char *path, int channels, int rate, uint64_t frames, uint64_t claim);

#endif
