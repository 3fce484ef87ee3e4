/*
 * error.c - the error table's names and messages, and the helpers that
 * fill a vectron_error with a message and add context to it.
 *
 * Threading: reentrant; a vectron_error belongs to one thread.
 */
#include <stdio.h>
#include <string.h>

#include "common/common.h"

const char *vectron_error_name(int code)
{
    switch (code) {
#define VECTRON_X_NAME(name, value, msg)                                       \
    case value:                                                                \
        return #name;
        VECTRON_ERROR_TABLE(VECTRON_X_NAME)
#undef VECTRON_X_NAME
    }
    return "UNKNOWN";
}

const char *vectron_error_default_message(int code)
{
    switch (code) {
#define VECTRON_X_MSG(name, value, msg)                                        \
    case value:                                                                \
        return msg;
        VECTRON_ERROR_TABLE(VECTRON_X_MSG)
#undef VECTRON_X_MSG
    }
    return "unknown error";
}

void vectron_error_clear(vectron_error *err)
{
    if (err) {
        err->code = VECTRON_OK;
        err->msg[0] = '\0';
    }
}

int vx_err(vectron_error *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

int vx_err_wrap(vectron_error *err, int code, const char *fmt, ...)
{
    char prefix[VECTRON_ERROR_MSG_SIZE];
    char old[VECTRON_ERROR_MSG_SIZE];
    va_list ap;

    if (!err) {
        return code;
    }
    if (err->code == VECTRON_OK) {
        err->code = code;
        snprintf(err->msg, sizeof err->msg, "%s",
                 vectron_error_default_message(code));
    }
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    /* Truncation is acceptable: the message stays NUL-terminated. */
    {
        size_t n = strlen(prefix);
        if (n > sizeof err->msg - 3) {
            n = sizeof err->msg - 3;
        }
        memcpy(err->msg, prefix, n);
        memcpy(err->msg + n, ": ", 2);
        n += 2;
        size_t rest = strlen(old);
        if (rest > sizeof err->msg - 1 - n) {
            rest = sizeof err->msg - 1 - n;
        }
        memcpy(err->msg + n, old, rest);
        err->msg[n + rest] = '\0';
    }
    return err->code;
}
