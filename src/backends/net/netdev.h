/* SPDX-License-Identifier: MIT */
/*
 * QEMU's network spellings, parsed into plain structs (no I/O):
 *
 *   -netdev user,id=ID[,hostfwd=[tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT]...
 *                     [,restrict=on|off][,mtu=576..65520]
 *   -netdev tap,id=ID,ifname=NAME[,script=no][,downscript=no]
 *   -device virtio-net-pci,netdev=ID[,mac=52:54:00:12:34:56]
 *   -nic user|tap[,NETDEV OPTIONS][,mac=MAC][,model=virtio-net-pci]
 *
 * A host forward binds 127.0.0.1 unless HOSTADDR says otherwise (QEMU binds
 * every address); the guest address defaults to 10.0.2.15, the first
 * address libslirp's DHCP server hands out.  Unknown keys, repeated keys
 * (but hostfwd), stray commas and malformed values are refused with one
 * line.
 */
#ifndef MINIVMM_BACKENDS_NET_NETDEV_H
#define MINIVMM_BACKENDS_NET_NETDEV_H

#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NETDEV_ID_MAX  31
#define NETDEV_MAX_FWD 16
/* -netdev user's default MTU: the largest frames libslirp takes, so a guest
 * TCP stream moves 64 KiB per frame instead of 1.5 KiB (mtu=1500 is
 * QEMU's). */
#define NETDEV_USER_MTU 65520
#define NETDEV_MIN_MTU  576

enum netdev_kind { NETDEV_USER, NETDEV_TAP };

struct netdev_fwd {
	bool udp;
	struct in_addr host_addr;
	uint16_t host_port;
	struct in_addr guest_addr;
	uint16_t guest_port;
};

struct netdev_config {
	enum netdev_kind kind;
	char id[NETDEV_ID_MAX + 1];
	/* user */
	struct netdev_fwd fwd[NETDEV_MAX_FWD];
	unsigned int nr_fwd;
	bool restricted;              /* restrict=on: the guest reaches no host */
	uint16_t mtu;                 /* mtu=: the link's MTU (default NETDEV_USER_MTU) */
	/* tap */
	char ifname[IFNAMSIZ];
};

/* -device virtio-net-pci options. */
struct nic_config {
	char netdev[NETDEV_ID_MAX + 1];
	bool mac_given;
	uint8_t mac[6];
};

/* Each: 0, or -EINVAL with a one-line message in err (err_len bytes), or
 * logged with log_err when err is NULL. */
int netdev_parse(const char *spec, struct netdev_config *cfg, char *err, size_t err_len);
/* The options after "virtio-net-pci,". */
int nic_device_parse(const char *opts, struct nic_config *nic, char *err, size_t err_len);
/* -nic: both at once; the netdev gets the id `id`. */
int nic_parse(const char *spec, const char *id, struct netdev_config *cfg,
	      struct nic_config *nic, char *err, size_t err_len);

/* cfg back in the -netdev spelling (snapshots keep it so). 0, or
 * -ENAMETOOLONG when buf is too small. */
int netdev_format(const struct netdev_config *cfg, char *buf, size_t len);

/* QEMU's default MAC for the n-th NIC: 52:54:00:12:34:56 + n. */
void nic_default_mac(unsigned int n, uint8_t mac[6]);

const char *netdev_kind_name(enum netdev_kind kind);

#endif
