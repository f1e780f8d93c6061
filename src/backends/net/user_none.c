// SPDX-License-Identifier: MIT
/* -netdev user in a build without libslirp (a static build: Debian ships no
 * static libslirp).  The option is refused in one line, before the VM runs. */
#include "backends/net/backend.h"

#include <errno.h>

#include "base/log.h"

int net_user_open(const struct netdev_config *cfg, struct evloop *loop,
		  struct net_backend **out)
{
	log_err("netdev %s: -netdev user needs libslirp, which this minivmm was built "
		"without (a static build); use a dynamically linked one, or -netdev tap",
		cfg->id);
	return -ENOTSUP;
}
