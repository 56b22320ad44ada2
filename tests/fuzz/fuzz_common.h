/* fuzz_common.h: shared by the libFuzzer harnesses in this folder. */
#ifndef WIGGLY_FUZZ_COMMON_H
#define WIGGLY_FUZZ_COMMON_H

#include <stdio.h>
#include <stdlib.h>

/* A violated invariant is a finding: say which and abort, so libFuzzer
 * saves the input as a crash. */
static inline void fuzz_die(const char *target, const char *what, const char *detail)
{
    fprintf(stderr, "%s: invariant violated: %s%s%s\n", target, what, detail ? ": " : "",
            detail ? detail : "");
    abort();
}

#endif
