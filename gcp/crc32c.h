#ifndef WIGGLY_GCP_CRC32C_H
#define WIGGLY_GCP_CRC32C_H
#include <stddef.h>
#include <stdint.h>
/* CRC32C (Castagnoli). Start with crc = 0; feed chunks by passing the result
 * back in. SSE4.2 instruction when the CPU has it, table otherwise.
 * Thread-safe. */
uint32_t gcp_crc32c(uint32_t crc, const void *data, size_t len);
/* base64 of the big-endian 4 bytes, as GCS writes it ("AAAAAA==" for 0). */
void gcp_crc32c_base64(uint32_t crc, char out[9]);
#endif
