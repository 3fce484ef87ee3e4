/*
 * session_token.h - the session token of bounded-staleness reads
 * (docs/formats/session-token.md): per shard of one collection, the
 * highest Raft index a client has seen, carried in the `vectron-session`
 * response and request header.
 *
 * A token names its collection by the Raft group of the collection's first
 * shard and its shard count (both fixed at creation; a collection created
 * again under the same name gets new groups), then holds one index per
 * shard (0: nothing seen on that shard). Text form: "v1." followed by the
 * base64url (no padding) of varints and a CRC32C.
 *
 * Threading: pure functions over caller memory.
 *
 * Prefix: gw_session_.
 */
#ifndef VECTRON_GW_SESSION_TOKEN_H
#define VECTRON_GW_SESSION_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "vectron/error.h"

/* The header's name (responses and requests). */
#define GW_SESSION_HEADER "vectron-session"
/* Longest token text accepted (bytes, without the NUL); longer is refused
 * as a header too large (431). The longest token there can be, 1024
 * shards at 64-bit indexes, takes 13 675 bytes; 64 shards at indexes below
 * 2^35 take at most 443. */
#define GW_SESSION_MAX_TEXT 16384u
/* Most shards a token may list (PD_MAX_SHARDS). */
#define GW_SESSION_MAX_SHARDS 1024u

typedef struct gw_session {
    uint64_t first_group; /* the collection's first shard's Raft group */
    uint32_t n;           /* the collection's shard count */
    uint64_t *index;      /* n entries; owned (gw_session_clear) */
} gw_session;

/* Parses token text (len bytes, not necessarily NUL-terminated) into *out
 * (free with gw_session_clear; on error *out is left empty). Errors:
 * INVALID with the reason (wrong prefix or version, bad base64url, a
 * truncated or overlong varint, trailing bytes, a checksum mismatch, more
 * than GW_SESSION_MAX_SHARDS shards), NOMEM. Never reads past len. */
int gw_session_parse(const char *text, size_t len, gw_session *out,
                     vectron_error *err);

/* Writes the token of s as NUL-terminated text into buf (size bytes).
 * Errors: INVALID when it does not fit (nothing usable is written) or s
 * has more than GW_SESSION_MAX_SHARDS shards. */
int gw_session_format(const gw_session *s, char *buf, size_t size,
                      vectron_error *err);

/* The text length gw_session_format needs for n shards at worst (every
 * index 10 varint bytes), NUL included. */
size_t gw_session_text_max(uint32_t n);

/* Element-wise max of b into a; both must name the same collection
 * (same first_group and n), else INVALID and a is unchanged. */
int gw_session_merge(gw_session *a, const gw_session *b, vectron_error *err);

void gw_session_clear(gw_session *s);

#endif
