/* fuzz_emulator_names.c: libFuzzer target for the emulator's name handling:
 * percent decoding, the file-name key of an object name (must never contain
 * '/' nor be "." or ".."), and its inverse. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "emulator/emu_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t n = 0;
    char key[256];
    char *dec = emu_pct_decode((const char *)data, size, &n);
    if (!dec)
        return 0;
    if (n > 0 && emu_name_key(dec, n, key, sizeof(key)) == 0) {
        char *back;
        if (strchr(key, '/') || strcmp(key, ".") == 0 || strcmp(key, "..") == 0)
            abort();
        back = emu_name_from_key(key);
        if (back && (strlen(back) != n || memcmp(back, dec, n) != 0) && !memchr(dec, 0, n))
            abort();
        free(back);
    }
    free(dec);
    return 0;
}
