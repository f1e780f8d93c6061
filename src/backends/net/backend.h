/* SPDX-License-Identifier: MIT */
/*
 * Opening a network backend (devices/net.h) for a parsed -netdev.  Each
 * backend adds a poller to the VM's I/O event loop (base/evloop.h) before
 * that loop starts, and is served there from then on.
 *
 *   user: libslirp, QEMU's user-mode network: 10.0.2.0/24, the guest at
 *         10.0.2.15 by DHCP, 10.0.2.2 the host's loopback, 10.0.2.3 DNS;
 *         host forwards listen on the host.  No privileges.
 *   tap:  /dev/net/tun with IFF_VNET_HDR: frames and their offloads pass
 *         straight to the host's interface.  Needs CAP_NET_ADMIN (or a tap
 *         made persistent for this user beforehand).
 */
#ifndef MINIVMM_BACKENDS_NET_BACKEND_H
#define MINIVMM_BACKENDS_NET_BACKEND_H

#include "backends/net/netdev.h"
#include "base/evloop.h"
#include "devices/net.h"

/* 0, or -errno with one line logged naming the netdev and the problem. */
int net_backend_open(const struct netdev_config *cfg, struct evloop *loop,
		     struct net_backend **out) __attribute__((warn_unused_result));
void net_backend_destroy(struct net_backend *nb);

/* Per kind. */
int net_user_open(const struct netdev_config *cfg, struct evloop *loop,
		  struct net_backend **out);
int net_tap_open(const struct netdev_config *cfg, struct evloop *loop,
		 struct net_backend **out);

#endif
