/* emu_util.h: small helpers shared by the GCS emulator's files: percent
 * coding, file-name coding of object names, CRC32C + MD5 hashing, base64,
 * RFC 3339 timestamps. Pure functions; no global state, thread-safe. */
#ifndef WIGGLY_EMU_UTIL_H
#define WIGGLY_EMU_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

/* Decodes %XX sequences of src[0..len) into a new NUL-terminated string;
 * *out_len gets the decoded length (which may contain NUL bytes). Returns NULL
 * on a malformed escape or on allocation failure. '+' is kept as '+'. */
char *emu_pct_decode(const char *src, size_t len, size_t *out_len);

/* Encodes every byte outside [A-Za-z0-9-_.~] as %XX (a URL path segment).
 * Returns a malloc'ed string or NULL. */
char *emu_pct_encode(const char *src, size_t len);

/* File-name key for an object name: every byte outside [A-Za-z0-9_-] as %XX,
 * so no key is "." or ".." or contains "/"; keys longer than 200 bytes become
 * "~" + hex SHA-256 of the name. Writes at most cap bytes; returns 0 or -1. */
int emu_name_key(const char *name, size_t len, char *out, size_t cap);

/* Inverse of emu_name_key for non-hashed keys: returns a malloc'ed name or
 * NULL (hashed or malformed key). */
char *emu_name_from_key(const char *key);

uint32_t emu_crc32c_update(uint32_t crc, const void *buf, size_t len);

/* Incremental CRC32C + MD5 of a byte stream. */
struct emu_hasher {
    uint32_t crc;
    EVP_MD_CTX *md5;
    uint64_t bytes;
};
int emu_hasher_init(struct emu_hasher *h);
void emu_hasher_update(struct emu_hasher *h, const void *buf, size_t len);
/* Writes base64 crc32c (big-endian) and md5 into the buffers (>= 32 bytes
 * each) and releases the hasher. */
void emu_hasher_final(struct emu_hasher *h, char *crc_b64, char *md5_b64);
void emu_hasher_cleanup(struct emu_hasher *h);

/* Hashes a whole file from offset off for len bytes; returns 0 or -errno. */
int emu_hash_fd(int fd, uint64_t off, uint64_t len, char *crc_b64, char *md5_b64);

/* Base64 of n bytes into out (cap >= 4*((n+2)/3)+1). */
void emu_base64(const unsigned char *in, size_t n, char *out);

/* RFC 3339 UTC with milliseconds from microseconds since the epoch. */
void emu_time_rfc3339(uint64_t usec, char *out, size_t cap);
uint64_t emu_now_usec(void);

/* Parses a decimal int64 (no sign, no junk). Returns 0 or -1. */
int emu_parse_u64(const char *s, uint64_t *out);

#endif
