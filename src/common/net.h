/*
 * net.h - network address helpers shared by the Raft transport and the
 * RPC layer.
 *
 * Threading: reentrant.
 */
#ifndef VECTRON_NET_H
#define VECTRON_NET_H

#include <sys/socket.h>

#include "vectron/error.h"

/* Longest address text accepted, terminating NUL included. */
#define VX_ADDRESS_MAX 256

/* Parses "a.b.c.d:port" or "[ipv6]:port" (numeric only, no names) into
 * out. Errors: INVALID (with the reason). */
int vx_parse_address(const char *address, struct sockaddr_storage *out,
                     vectron_error *err);

#endif
