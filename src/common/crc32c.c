/*
 * crc32c.c - CRC32C (Castagnoli polynomial, reflected 0x82F63B78), the
 * checksum of every Vectron file and frame. Uses the SSE4.2 crc32
 * instruction when the CPU has it, else a table-driven loop; both give the
 * same result (tested).
 *
 * Threading: the table is built once under pthread_once; the function is
 * reentrant.
 */
#include <pthread.h>
#include <string.h>

#include "common/common.h"

static uint32_t table[8][256];
static int have_sse42;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init_tables(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) {
            c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        }
        table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++) {
        for (int t = 1; t < 8; t++) {
            table[t][i] =
                (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xff];
        }
    }
    have_sse42 = __builtin_cpu_supports("sse4.2");
}

static uint32_t crc_sw(uint32_t crc, const uint8_t *p, size_t len)
{
    while (len >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        v ^= crc;
        crc = table[7][v & 0xff] ^ table[6][(v >> 8) & 0xff] ^
              table[5][(v >> 16) & 0xff] ^ table[4][(v >> 24) & 0xff] ^
              table[3][(v >> 32) & 0xff] ^ table[2][(v >> 40) & 0xff] ^
              table[1][(v >> 48) & 0xff] ^ table[0][v >> 56];
        p += 8;
        len -= 8;
    }
    while (len--) {
        crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xff];
    }
    return crc;
}

__attribute__((target("sse4.2"))) static uint32_t
crc_hw(uint32_t crc, const uint8_t *p, size_t len)
{
    uint64_t c = crc;
    while (len >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = __builtin_ia32_crc32di(c, v);
        p += 8;
        len -= 8;
    }
    crc = (uint32_t)c;
    while (len--) {
        crc = __builtin_ia32_crc32qi(crc, *p++);
    }
    return crc;
}

/* Exposed for the test that checks both paths agree. */
uint32_t vx_crc32c_sw(uint32_t crc, const void *buf, size_t len);

uint32_t vx_crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
    pthread_once(&once, init_tables);
    return ~crc_sw(~crc, buf, len);
}

uint32_t vx_crc32c(uint32_t crc, const void *buf, size_t len)
{
    pthread_once(&once, init_tables);
    if (have_sse42) {
        return ~crc_hw(~crc, buf, len);
    }
    return ~crc_sw(~crc, buf, len);
}
