/* main.c: wiggly-gcs-emulator (not built yet). */
#include <stdio.h>

int main(void)
{
    fprintf(stderr, "wiggly-gcs-emulator: not available in this build yet\n");
    return 2;
}
