/*
 * pd_proto.h - conversions between the catalog's structs (catalog.h) and
 * their protobuf messages (proto/vectron.proto), shared by the PD service,
 * the workers' agents and the gateway.
 *
 * Threading: reentrant.
 */
#ifndef VECTRON_PD_PROTO_H
#define VECTRON_PD_PROTO_H

#include "pd/catalog.h"
#include "proto/vectron.pb-c.h"

/* Fills m (initialised here) from p. */
void pd_params_to_proto(const pd_collection_params *p,
                        Vectron__CollectionParams *m);

/* Reads m into *out. Errors: INVALID (missing or out of range). */
int pd_params_from_proto(const Vectron__CollectionParams *m,
                         pd_collection_params *out, vectron_error *err);

/* Reads a catalog entry (name, ids, parameters) into *out. Errors:
 * INVALID. */
int pd_collection_from_proto(const Vectron__CatalogCollection *m,
                             pd_collection *out, vectron_error *err);

#endif
