/* emu_fault.c: see emu_fault.h. splitmix64 is enough here: the sequence only
 * needs to be reproducible and roughly uniform. */
#include "emulator/emu_fault.h"

#include <stdlib.h>
#include <string.h>

int emu_fault_parse_statuses(const char *list, int *out, size_t cap, size_t *n)
{
    const char *p = list;
    *n = 0;
    if (!list || !*list)
        return -1;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char tok[16];
        if (len == 0 || len >= sizeof(tok) || *n >= cap)
            return -1;
        memcpy(tok, p, len);
        tok[len] = '\0';
        if (strcmp(tok, "drop") == 0) {
            out[(*n)++] = EMU_FAULT_DROP;
        } else if (strcmp(tok, "corrupt") == 0) {
            out[(*n)++] = EMU_FAULT_CORRUPT;
        } else {
            char *end;
            long v = strtol(tok, &end, 10);
            if (*end || v < 100 || v > 599)
                return -1;
            out[(*n)++] = (int)v;
        }
        p += len;
        if (*p == ',')
            p++;
    }
    return *n ? 0 : -1;
}

void emu_fault_init(struct emu_fault *f, uint64_t seed)
{
    memset(f, 0, sizeof(*f));
    f->rng = seed;
    f->statuses[0] = 503;
    f->n_statuses = 1;
    pthread_mutex_init(&f->lock, NULL);
}

void emu_fault_cleanup(struct emu_fault *f)
{
    pthread_mutex_destroy(&f->lock);
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

int emu_fault_applies(const struct emu_fault *f, const char *uri)
{
    return !f->route || !*f->route || strstr(uri, f->route) != NULL;
}

int emu_fault_pick(struct emu_fault *f, const char *uri)
{
    int r = EMU_FAULT_NONE;
    if (f->rate <= 0 || f->n_statuses == 0 || !emu_fault_applies(f, uri))
        return EMU_FAULT_NONE;
    pthread_mutex_lock(&f->lock);
    double u = (double)(splitmix64(&f->rng) >> 11) / 9007199254740992.0;
    if (u < f->rate)
        r = f->statuses[splitmix64(&f->rng) % f->n_statuses];
    pthread_mutex_unlock(&f->lock);
    return r;
}
