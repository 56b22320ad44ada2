/* cli_new.c: `wiggly new` (not built yet). */
#include <stdio.h>

#include "service/cli.h"

int cli_new(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "wiggly new: not available in this build yet\n");
    return 2;
}
