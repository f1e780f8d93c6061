/* SPDX-License-Identifier: MIT */
/*
 * Long options looked up in a table: the one option reader behind every
 * minivmm command line.  Spellings: "--name", "--name=value",
 * "--name value", and QEMU's single-dash "-name", "-name=value",
 * "-name value".  Names match exactly (no prefixes, no clustered short
 * options); "=" in a value belongs to the value.  What an option means is
 * the caller's business: the table hands back the caller's id.
 */
#ifndef MINIVMM_OPTIONS_H
#define MINIVMM_OPTIONS_H

#include <stddef.h>

enum opt_arg {
	OPT_ARG_NONE,
	OPT_ARG_REQUIRED, /* "--name=value" or "--name value" */
	OPT_ARG_OPTIONAL, /* only as "--name=value"; plain "--name" gives NULL */
};

struct opt_def {
	const char *name; /* without dashes, non-empty */
	int id;           /* the caller's, handed back by opt_next */
	enum opt_arg arg;
};

/* One command line's options, and how its error lines read. */
struct opt_table {
	const struct opt_def *defs;
	size_t nr_defs;
	const char *prefix; /* starts every error line: "" or e.g. "compare: " */
	const char *help;   /* where to look, in "(see ...)": e.g. "--help" */
};

/* The definition named exactly name[0..len), or NULL (also for len 0). */
const struct opt_def *opt_find(const struct opt_table *t, const char *name, size_t len);

/*
 * Reads argv[*i] (0 <= *i < argc).  Returns 1 for an option, with *def
 * set and *value the value or NULL, *i left on the last element used (a
 * separate value is consumed); 0 when argv[*i] is not an option (does not
 * start with '-', or is "-"), for the caller to take as a positional
 * argument; -EINVAL for an unknown option, a value given to an option
 * that takes none, or a missing value, with one line logged.
 */
int opt_next(const struct opt_table *t, int argc, char **argv, int *i,
	     const struct opt_def **def, const char **value);

/* Logs "<prefix>unexpected argument 'ARG' (see <help>)"; returns -EINVAL. */
int opt_unexpected(const struct opt_table *t, const char *arg);

#endif
