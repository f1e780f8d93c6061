// SPDX-License-Identifier: MIT
/* Long options from a table (options.h). */
#include "base/options.h"

#include <errno.h>
#include <string.h>

#include "base/log.h"

const struct opt_def *opt_find(const struct opt_table *t, const char *name, size_t len)
{
	if (len == 0)
		return NULL;
	for (size_t k = 0; k < t->nr_defs; k++) {
		const char *n = t->defs[k].name;

		if (strlen(n) == len && !memcmp(n, name, len))
			return &t->defs[k];
	}
	return NULL;
}

int opt_next(const struct opt_table *t, int argc, char **argv, int *i,
	     const struct opt_def **def, const char **value)
{
	const char *arg = argv[*i], *name, *eq;
	size_t len;

	*def = NULL;
	*value = NULL;
	if (arg[0] != '-' || arg[1] == '\0')
		return 0;
	name = arg + (arg[1] == '-' ? 2 : 1);
	eq = strchr(name, '=');
	len = eq ? (size_t)(eq - name) : strlen(name);
	*def = opt_find(t, name, len);
	if (!*def) {
		log_err("%sunknown option '%s' (see %s)", t->prefix, arg, t->help);
		return -EINVAL;
	}
	if (eq && (*def)->arg == OPT_ARG_NONE) {
		/* Name the option as written, without the value. */
		log_err("%soption '%.*s' takes no value", t->prefix, (int)(eq - arg), arg);
		return -EINVAL;
	}
	if (eq) {
		*value = eq + 1;
	} else if ((*def)->arg == OPT_ARG_REQUIRED) {
		if (*i + 1 >= argc) {
			log_err("%soption '%s' needs a value", t->prefix, arg);
			return -EINVAL;
		}
		*value = argv[++*i];
	}
	return 1;
}

int opt_unexpected(const struct opt_table *t, const char *arg)
{
	log_err("%sunexpected argument '%s' (see %s)", t->prefix, arg, t->help);
	return -EINVAL;
}
