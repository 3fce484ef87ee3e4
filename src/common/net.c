/*
 * net.c - parsing "ip:port" addresses (IPv4 and bracketed IPv6).
 *
 * Threading: reentrant.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "common/net.h"

int vx_parse_address(const char *address, struct sockaddr_storage *out,
                     vectron_error *err)
{
    char host[VX_ADDRESS_MAX];
    const char *colon;
    const char *port_s;
    char *end = NULL;
    unsigned long port;
    size_t hl;

    memset(out, 0, sizeof *out);
    if (!address || !*address) {
        return vx_err(err, VECTRON_INVALID, "address: empty");
    }
    colon = strrchr(address, ':');
    if (!colon) {
        return vx_err(err, VECTRON_INVALID, "address '%s': no ':port'",
                      address);
    }
    port_s = colon + 1;
    port = strtoul(port_s, &end, 10);
    if (*port_s == '\0' || *end != '\0' || port > 65535) {
        return vx_err(err, VECTRON_INVALID, "address '%s': bad port", address);
    }
    hl = (size_t)(colon - address);
    if (hl >= sizeof host) {
        return vx_err(err, VECTRON_INVALID, "address '%s': too long", address);
    }
    memcpy(host, address, hl);
    host[hl] = '\0';
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)out;
        host[hl - 1] = '\0';
        if (inet_pton(AF_INET6, host + 1, &s6->sin6_addr) == 1) {
            s6->sin6_family = AF_INET6;
            s6->sin6_port = htons((uint16_t)port);
            return 0;
        }
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)out;
        if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
            s4->sin_family = AF_INET;
            s4->sin_port = htons((uint16_t)port);
            return 0;
        }
    }
    return vx_err(err, VECTRON_INVALID,
                  "address '%s': not an IPv4 'a.b.c.d:port' or IPv6 "
                  "'[addr]:port'",
                  address);
}
