/* cli_verify.c: `wiggly verify` (not built yet). */
#include <stdio.h>

#include "service/cli.h"

int cli_verify(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "wiggly verify: not available in this build yet\n");
    return 2;
}
