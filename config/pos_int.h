/* pos_int.h (internal to config/): line and column of every key and value of a
 * JSON text, by dotted path: "" is the root, "runtime.workers" a member,
 * "output.topics[0]" an array element. Lines and columns start at 1; columns
 * count UTF-8 characters. Ownership: the index owns its entries; release with
 * cfg__pos_index_cleanup. Thread-safe (no globals). */
#ifndef WIGGLY_CONFIG_POS_H
#define WIGGLY_CONFIG_POS_H

#include <stddef.h>

struct cfg_pos {
    char *path;
    int key_line, key_col; /* the key's opening quote (= value for array elements) */
    int line, col;         /* the value's first character */
};

struct cfg_pos_index {
    struct cfg_pos *v;
    size_t n, cap;
};

/* Indexes valid JSON text. Returns 0, or -1 if out of memory or the text is
 * not JSON (entries recorded so far stay valid). */
int cfg__pos_index_build(struct cfg_pos_index *ix, const char *text, size_t len);
/* NULL when the path is not in the text. */
const struct cfg_pos *cfg__pos_index_find(const struct cfg_pos_index *ix, const char *path);
void cfg__pos_index_cleanup(struct cfg_pos_index *ix);

#endif
