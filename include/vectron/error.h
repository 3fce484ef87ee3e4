/*
 * vectron/error.h - error codes and the error-message carrier shared by
 * every Vectron module and by the public C API.
 *
 * Every function that can fail returns an int: 0 (VECTRON_OK) on success or
 * one of the codes below. When the caller passes a non-NULL vectron_error,
 * the function also fills it with the code and a message that names what
 * failed, with context added as the error travels up
 * ("load index: links of node 12: neighbour 99 out of range").
 *
 * Threading: a vectron_error is plain caller-owned memory; use one per
 * thread. The functions here are reentrant.
 */
#ifndef VECTRON_ERROR_H
#define VECTRON_ERROR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The one error table: name, value, default message. */
#define VECTRON_ERROR_TABLE(X)                                                 \
    X(OK, 0, "success")                                                        \
    X(NOMEM, 1, "out of memory")                                               \
    X(INVALID, 2, "invalid argument")                                          \
    X(DIMENSION, 3, "vector dimension mismatch")                               \
    X(NOT_FOUND, 4, "not found")                                               \
    X(EXISTS, 5, "already exists")                                             \
    X(CORRUPT, 6, "corrupt or truncated data")                                 \
    X(IO, 7, "input/output error")                                             \
    X(UNSUPPORTED, 8, "unsupported")                                           \
    X(LIMIT, 9, "limit exceeded")                                              \
    X(INTERNAL, 10, "internal error")                                          \
    X(NOT_LEADER, 11, "not the leader of this group")                          \
    X(TIMEOUT, 12, "timed out")                                                \
    X(UNAVAILABLE, 13, "temporarily unavailable")

enum vectron_error_code {
#define VECTRON_X_ENUM(name, value, msg) VECTRON_##name = value,
    VECTRON_ERROR_TABLE(VECTRON_X_ENUM)
#undef VECTRON_X_ENUM
};

/* Size of the message buffer, terminating NUL included. */
#define VECTRON_ERROR_MSG_SIZE 256

typedef struct vectron_error {
    int code;                         /* a vectron_error_code */
    char msg[VECTRON_ERROR_MSG_SIZE]; /* always NUL-terminated */
} vectron_error;

/* Returns the constant name of a code ("NOMEM"), or "UNKNOWN". The pointer
 * is static and valid forever. */
const char *vectron_error_name(int code);

/* Returns the constant default message of a code, or "unknown error". */
const char *vectron_error_default_message(int code);

/* Resets err (if not NULL) to VECTRON_OK with an empty message. */
void vectron_error_clear(vectron_error *err);

#ifdef __cplusplus
}
#endif

#endif
