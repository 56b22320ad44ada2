/* test_emulator_multipart.c: unit tests of the emulator's pure parsers
 * (multipart/related, boundary, percent coding, name keys, CRC32C), in
 * process. The HTTP behaviour is covered by test_emulator.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "emulator/emu_multipart.h"
#include "emulator/emu_util.h"

static void parse_ok(const char *boundary, const char *body, const char *meta, const char *data,
                     size_t data_len)
{
    struct emu_multipart mp;
    char err[200];
    int rc = emu_multipart_parse_buf(boundary, body, strlen(body), &mp, err, sizeof(err));
    if (rc < 0)
        fprintf(stderr, "parse failed: %s\n", err);
    assert_int_equal(rc, 0);
    assert_string_equal(mp.meta, meta);
    assert_int_equal(mp.data_len, data_len);
    assert_memory_equal(body + mp.data_off, data, data_len);
    emu_multipart_cleanup(&mp);
}

static void test_boundary(void **state)
{
    char b[256];
    assert_int_equal(emu_multipart_boundary("multipart/related; boundary=abc", b, sizeof(b)), 0);
    assert_string_equal(b, "abc");
    assert_int_equal(emu_multipart_boundary("multipart/related; boundary=\"a b=c\"", b, sizeof(b)),
                     0);
    assert_string_equal(b, "a b=c");
    assert_int_equal(
        emu_multipart_boundary("Multipart/Related; boundary='===1868==';x=y", b, sizeof(b)), 0);
    assert_string_equal(b, "===1868==");
    assert_int_equal(
        emu_multipart_boundary("multipart/related; BOUNDARY=x; charset=y", b, sizeof(b)), 0);
    assert_string_equal(b, "x");
    assert_int_equal(emu_multipart_boundary("application/json; boundary=x", b, sizeof(b)), -1);
    assert_int_equal(emu_multipart_boundary("multipart/related", b, sizeof(b)), -1);
    assert_int_equal(emu_multipart_boundary("multipart/related; boundary=", b, sizeof(b)), -1);
    assert_int_equal(emu_multipart_boundary("multipart/related; boundary=\"open", b, sizeof(b)),
                     -1);
    assert_int_equal(emu_multipart_boundary(NULL, b, sizeof(b)), -1);
    assert_int_equal(emu_multipart_boundary("multipart/related; boundary=abcdef", b, 4), -1);
}

static void test_parse_variants(void **state)
{
    /* CRLF, preamble, transport padding. */
    parse_ok("B",
             "preamble\r\n--B  \r\nContent-Type: application/json\r\n\r\n{\"a\":1}\r\n--B\r\n"
             "Content-Type: text/plain\r\n\r\nxyz\r\n--B--\r\nepilogue",
             "{\"a\":1}", "xyz", 3);
    /* LF only, gcloud style, data ending in a newline. */
    parse_ok("==x==",
             "--==x==\nContent-Type: application/json\nMIME-Version: 1.0\n\n{}\n--==x==\n"
             "Content-Type: text/plain\n\nhello\n\n--==x==--\n",
             "{}", "hello\n", 6);
    /* Empty data part, with and without the delimiter's own line end. */
    parse_ok("B", "--B\r\n\r\n{}\r\n--B\r\n\r\n\r\n--B--", "{}", "", 0);
    parse_ok("B", "--B\n\n{}\n--B\n\n--B--", "{}", "", 0);
    /* Data that contains the boundary text not at a line start, and a
     * delimiter-like line that is not the closing one. */
    parse_ok("B", "--B\r\n\r\n{}\r\n--B\r\n\r\nx--B--y\r\n--B\r\nz\r\n--B--\r\n", "{}",
             "x--B--y\r\n--B\r\nz", 15);
}

static void test_parse_errors(void **state)
{
    static const char *const bad[] = {
        "",
        "--B",
        "--B\r\n",
        "--B\r\n\r\n{}\r\n--B--\r\n",     /* no data part */
        "--B\r\n\r\n{}\r\n--B\r\n\r\nxx", /* no closing boundary */
        "--Bxx\r\n\r\n{}",
        "--B\r\nContent-Type: x", /* headers never end */
        "no boundary at all",
        "--C\r\n\r\n{}\r\n--C\r\n\r\nd\r\n--C--",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct emu_multipart mp;
        char err[200] = "";
        assert_int_equal(
            emu_multipart_parse_buf("B", bad[i], strlen(bad[i]), &mp, err, sizeof(err)), -1);
        assert_true(err[0] != '\0');
        assert_null(mp.meta);
    }
}

/* A body larger than the parser's head window: the data part must be found
 * through the file's head and tail only. */
static void test_parse_fd_large(void **state)
{
    char path[] = "/tmp/wiggly-mp-XXXXXX";
    int fd = mkstemp(path);
    const size_t N = 3 * 1024 * 1024 + 17;
    char *data = malloc(N);
    static const char head[] = "--B\r\nContent-Type: application/json\r\n\r\n{\"name\":\"x\"}\r\n"
                               "--B\r\nContent-Type: application/octet-stream\r\n\r\n";
    static const char tail[] = "\r\n--B--\r\n";
    struct emu_multipart mp;
    char err[200];
    assert_true(fd >= 0);
    unlink(path);
    for (size_t i = 0; i < N; i++)
        data[i] = (char)(i * 131 + 7);
    assert_int_equal(write(fd, head, sizeof(head) - 1), (ssize_t)(sizeof(head) - 1));
    assert_int_equal(write(fd, data, N), (ssize_t)N);
    assert_int_equal(write(fd, tail, sizeof(tail) - 1), (ssize_t)(sizeof(tail) - 1));
    assert_int_equal(emu_multipart_parse_fd("B", fd, sizeof(head) - 1 + N + sizeof(tail) - 1, &mp,
                                            err, sizeof(err)),
                     0);
    assert_string_equal(mp.meta, "{\"name\":\"x\"}");
    assert_string_equal(mp.data_type, "application/octet-stream");
    assert_int_equal(mp.data_off, sizeof(head) - 1);
    assert_int_equal(mp.data_len, N);
    emu_multipart_cleanup(&mp);
    close(fd);
    free(data);
}

static void test_crc32c_vectors(void **state)
{
    struct emu_hasher h;
    char crc[32], md5[32];
    assert_int_equal(emu_crc32c_update(0, "", 0), 0);
    assert_int_equal(emu_crc32c_update(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(emu_crc32c_update(0, "hello", 5), 0x9A71BB4Cu);
    /* Incremental = whole. */
    assert_int_equal(emu_crc32c_update(emu_crc32c_update(0, "hello ", 6), "world", 5), 0xC99465AAu);
    assert_int_equal(emu_hasher_init(&h), 0);
    emu_hasher_update(&h, "hello", 5);
    emu_hasher_final(&h, crc, md5);
    assert_string_equal(crc, "mnG7TA==");
    assert_string_equal(md5, "XUFAKrxLKna5cZ2REBfFkg==");
}

static void test_pct_and_keys(void **state)
{
    size_t n;
    char key[256], *s;
    s = emu_pct_decode("a%2Fb%20c", 9, &n);
    assert_string_equal(s, "a/b c");
    free(s);
    s = emu_pct_decode("a%00b", 5, &n);
    assert_int_equal(n, 3);
    free(s);
    assert_null(emu_pct_decode("a%2", 3, &n));
    assert_null(emu_pct_decode("%zz", 3, &n));
    s = emu_pct_encode("a/b c~", 6);
    assert_string_equal(s, "a%2Fb%20c~");
    free(s);
    /* Keys never contain '/' and are never "." or "..". */
    assert_int_equal(emu_name_key("../x", 4, key, sizeof(key)), 0);
    assert_string_equal(key, "%2E%2E%2Fx");
    assert_int_equal(emu_name_key("..", 2, key, sizeof(key)), 0);
    assert_string_equal(key, "%2E%2E");
    s = emu_name_from_key("%2E%2E%2Fx");
    assert_string_equal(s, "../x");
    free(s);
    {
        char longname[600];
        memset(longname, 'a', sizeof(longname));
        assert_int_equal(emu_name_key(longname, sizeof(longname), key, sizeof(key)), 0);
        assert_int_equal(key[0], '~');
        assert_int_equal(strlen(key), 65);
        assert_null(emu_name_from_key(key));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_boundary),       cmocka_unit_test(test_parse_variants),
        cmocka_unit_test(test_parse_errors),   cmocka_unit_test(test_parse_fd_large),
        cmocka_unit_test(test_crc32c_vectors), cmocka_unit_test(test_pct_and_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
