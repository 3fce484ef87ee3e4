/*
 * point_id.h - point identifiers as Qdrant has them: an unsigned 64-bit
 * integer or a UUID. Shared by the store (keys), the shard (commands) and
 * the gateway (JSON). A point id has one canonical binary key form,
 * ordered numbers first (ascending), then UUIDs (bytewise), which is the
 * order scroll returns points in.
 *
 * Threading: pure functions.
 */
#ifndef VECTRON_POINT_ID_H
#define VECTRON_POINT_ID_H

#include <stddef.h>
#include <stdint.h>

#include "vectron/error.h"

typedef struct point_id {
    int is_uuid;      /* 0: num is the id; 1: uuid is */
    uint64_t num;
    uint8_t uuid[16];
} point_id;

/* Key form: 1 byte kind (0 number, 1 UUID) then 8 bytes big-endian or the
 * 16 UUID bytes. */
#define POINT_KEY_MAX 17

/* Writes the key form of id into key (POINT_KEY_MAX bytes) and returns its
 * length (9 or 17). */
size_t point_id_key(const point_id *id, uint8_t *key);

/* Parses a key form; INVALID if it is not one. */
int point_id_from_key(const uint8_t *key, size_t len, point_id *id,
                      vectron_error *err);

/* Parses a UUID in its 36-character hyphenated form (either case); also
 * accepts 32 hex digits without hyphens. INVALID otherwise. */
int point_id_parse_uuid(const char *s, size_t len, point_id *id,
                        vectron_error *err);

/* Formats id as decimal or as a lower-case hyphenated UUID into buf
 * (at least 37 bytes); returns the length. */
size_t point_id_format(const point_id *id, char *buf);

/* -1, 0, 1 in key order. */
int point_id_cmp(const point_id *a, const point_id *b);

#endif
