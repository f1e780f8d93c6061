/* SPDX-License-Identifier: MIT */
/*
 * struct snap (base/snap.h) over a JSON document (jansson): u64 values as
 * "0x..." strings (exact, whatever their size), bytes as lowercase hex
 * strings, children as objects.  Loading checks that every field a
 * component asks for is there with the right type and size.
 */
#ifndef MINIVMM_CONTROL_SNAP_JSON_H
#define MINIVMM_CONTROL_SNAP_JSON_H

#include <jansson.h>

#include "base/snap.h"

/* A root for saving into obj (an object; references are the caller's). */
void snap_json_save(struct snap *root, struct snap_status *st, json_t *obj);
/* A root for loading from obj. */
void snap_json_load(struct snap *root, struct snap_status *st, json_t *obj);

#endif
