/* cli_gen.c: `wiggly gen` (not built yet). */
#include <stdio.h>

#include "service/cli.h"

int cli_gen(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "wiggly gen: not available in this build yet\n");
    return 2;
}
