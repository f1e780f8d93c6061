/* SPDX-License-Identifier: MIT */
/*
 * The snapshot directory on disk (docs/snapshots.md):
 *
 *   state.json     the machine, every vCPU and device (control/snap_json.h)
 *   state.sha256   "<hex>  state.json", as sha256sum writes it
 *   mem-N.raw      guest memory of slot N, sparse
 *
 * A snapshot is written into "<dir>.tmp-<pid>" and renamed into place when
 * complete, so a failed or interrupted snapshot leaves nothing behind and
 * never damages an older one at the same path (which is replaced only then).
 * Reading checks the checksum and the format before anything is used.
 */
#ifndef MINIVMM_CONTROL_SNAPDIR_H
#define MINIVMM_CONTROL_SNAPDIR_H

#include <stddef.h>

#include <jansson.h>

#define SNAPSHOT_FORMAT   "minivmm-snapshot"
#define SNAPSHOT_VERSION  1
#define SNAPSHOT_STATE    "state.json"
#define SNAPSHOT_SUM      "state.sha256"
#define SNAPSHOT_STATE_MAX (64u << 20)

/* Create the temporary directory for dir: its path in tmp.  0 or -errno
 * (why filled). */
int snapdir_begin(const char *dir, char *tmp, size_t tmp_len, char *why, size_t why_len);
/* Write state.json and its checksum into tmp. */
int snapdir_write_state(const char *tmp, json_t *doc, char *why, size_t why_len);
/* Move tmp to dir (replacing an older snapshot there, refusing anything
 * else that is in the way). */
int snapdir_commit(const char *dir, const char *tmp, char *why, size_t why_len);
/* Remove tmp and what is in it (a failed snapshot). */
void snapdir_abort(const char *tmp);

/* Read and check dir's state: *doc (the caller's reference) when the
 * checksum matches, the JSON parses, and format and version are known.
 * -ENOENT (not a snapshot), -EBADMSG (damaged), -EPROTO (another version). */
int snapdir_read_state(const char *dir, json_t **doc, char *why, size_t why_len);

#endif
