// SPDX-License-Identifier: MIT
/*
 * The -netdev / -nic / -device virtio-net-pci parsers.  A spec is the
 * backend's name, then key=value options separated by commas (",," is a
 * literal comma in a value, as in QEMU).  One table says which keys each
 * spelling takes; a key given twice is refused, except hostfwd.
 */
#include "backends/net/netdev.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"

#define SPEC_MAX  1024

struct perr {
	const char *what;     /* "-netdev", "-nic", "-device virtio-net-pci" */
	char *buf;
	size_t len;
};

#define fail(e, ...) log_refusal((e)->buf, (e)->len, (e)->what, __VA_ARGS__)

const char *netdev_kind_name(enum netdev_kind kind)
{
	return kind == NETDEV_TAP ? "tap" : "user";
}

void nic_default_mac(unsigned int n, uint8_t mac[6])
{
	static const uint8_t base[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

	memcpy(mac, base, 6);
	mac[5] = (uint8_t)(base[5] + n);
}

static int parse_mac(const struct perr *e, const char *v, uint8_t mac[6])
{
	char s[LOG_SHOWN_MAX + 4];
	unsigned int b[6];
	char tail;

	if (sscanf(v, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
		   &tail) != 6 || strlen(v) != 17)
		return fail(e, "mac '%s' is not six hex bytes like 52:54:00:12:34:56",
			    log_shown(v, s));
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	if (mac[0] & 1)
		return fail(e, "mac %s is a multicast address (the first byte must be even)", v);
	return 0;
}

static int parse_port(const struct perr *e, const char *v, uint16_t *port, const char *which)
{
	char s[LOG_SHOWN_MAX + 4], *end;
	unsigned long p;

	errno = 0;
	p = isdigit((unsigned char)*v) ? strtoul(v, &end, 10) : 0;
	if (!isdigit((unsigned char)*v) || errno || *end || p == 0 || p > 65535)
		return fail(e, "hostfwd: %s port '%s' is not 1..65535", which, log_shown(v, s));
	*port = (uint16_t)p;
	return 0;
}

static int parse_addr(const struct perr *e, const char *v, struct in_addr *a,
		      const char *dflt, const char *which)
{
	char s[LOG_SHOWN_MAX + 4];

	if (!*v)
		v = dflt;
	if (inet_pton(AF_INET, v, a) != 1)
		return fail(e, "hostfwd: %s address '%s' is not an IPv4 address", which,
			    log_shown(v, s));
	return 0;
}

/* [tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT */
static int parse_hostfwd(const struct perr *e, const char *v, struct netdev_fwd *f)
{
	char buf[128], s[LOG_SHOWN_MAX + 4], *hostaddr, *hostport, *guestaddr, *guestport, *p;
	int err;

	if (strlen(v) >= sizeof(buf))
		return fail(e, "hostfwd '%s' is too long", log_shown(v, s));
	strcpy(buf, v);
	p = strchr(buf, ':');
	if (!p)
		goto malformed;
	*p = '\0';
	if (!strcmp(buf, "tcp") || !*buf)
		f->udp = false;
	else if (!strcmp(buf, "udp"))
		f->udp = true;
	else
		return fail(e, "hostfwd: protocol '%s' is not tcp or udp", log_shown(buf, s));
	hostaddr = p + 1;
	p = strchr(hostaddr, ':');
	if (!p)
		goto malformed;
	*p = '\0';
	hostport = p + 1;
	p = strchr(hostport, '-');
	if (!p)
		goto malformed;
	*p = '\0';
	guestaddr = p + 1;
	p = strchr(guestaddr, ':');
	if (!p)
		goto malformed;
	*p = '\0';
	guestport = p + 1;
	err = parse_addr(e, hostaddr, &f->host_addr, "127.0.0.1", "host");
	if (!err)
		err = parse_port(e, hostport, &f->host_port, "host");
	if (!err)
		err = parse_addr(e, guestaddr, &f->guest_addr, "10.0.2.15", "guest");
	if (!err)
		err = parse_port(e, guestport, &f->guest_port, "guest");
	return err;
malformed:
	return fail(e, "hostfwd '%s' is not [tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT",
		    log_shown(v, s));
}

static int parse_onoff(const struct perr *e, const char *key, const char *v, bool *out)
{
	char s[LOG_SHOWN_MAX + 4];

	if (!strcmp(v, "on") || !strcmp(v, "yes") || !strcmp(v, "y")) {
		*out = true;
		return 0;
	}
	if (!strcmp(v, "off") || !strcmp(v, "no") || !strcmp(v, "n")) {
		*out = false;
		return 0;
	}
	return fail(e, "%s '%s' is not on or off", key, log_shown(v, s));
}

static int copy_id(const struct perr *e, const char *key, const char *v, char *out,
		   size_t size)
{
	char s[LOG_SHOWN_MAX + 4];

	if (!*v || strlen(v) >= size)
		return fail(e, "%s '%s' must be 1..%zu characters", key, log_shown(v, s), size - 1);
	for (const char *c = v; *c; c++)
		if (!isalnum((unsigned char)*c) && !strchr("-_.", *c))
			return fail(e, "%s '%s': only letters, digits, '-', '_' and '.'", key,
				    log_shown(v, s));
	strcpy(out, v);
	return 0;
}

/* Which keys a spelling takes. */
enum key {
	K_ID, K_HOSTFWD, K_RESTRICT, K_IFNAME, K_SCRIPT, K_DOWNSCRIPT, K_NETDEV, K_MAC,
	K_MODEL, K_MTU, NR_KEYS
};
static const char *const key_names[NR_KEYS] = {
	[K_ID] = "id", [K_HOSTFWD] = "hostfwd", [K_RESTRICT] = "restrict",
	[K_IFNAME] = "ifname", [K_SCRIPT] = "script", [K_DOWNSCRIPT] = "downscript",
	[K_NETDEV] = "netdev", [K_MAC] = "mac", [K_MODEL] = "model", [K_MTU] = "mtu",
};
#define KEYS_USER   (1u << K_ID | 1u << K_HOSTFWD | 1u << K_RESTRICT | 1u << K_MTU)
#define KEYS_TAP    (1u << K_ID | 1u << K_IFNAME | 1u << K_SCRIPT | 1u << K_DOWNSCRIPT)
#define KEYS_DEVICE (1u << K_ID | 1u << K_NETDEV | 1u << K_MAC)
#define KEYS_NIC    (1u << K_MAC | 1u << K_MODEL)

struct parsed {
	struct netdev_config *nd;
	struct nic_config *nic;
	unsigned int seen;
};

static int apply_key(const struct perr *e, struct parsed *p, enum key k, const char *v)
{
	char s[LOG_SHOWN_MAX + 4];

	switch (k) {
	case K_ID:
		return p->nd ? copy_id(e, "id", v, p->nd->id, sizeof(p->nd->id)) : 0;
	case K_HOSTFWD:
		if (p->nd->nr_fwd == NETDEV_MAX_FWD)
			return fail(e, "at most %d hostfwd rules", NETDEV_MAX_FWD);
		return parse_hostfwd(e, v, &p->nd->fwd[p->nd->nr_fwd++]);
	case K_RESTRICT:
		return parse_onoff(e, "restrict", v, &p->nd->restricted);
	case K_IFNAME:
		return copy_id(e, "ifname", v, p->nd->ifname, sizeof(p->nd->ifname));
	case K_SCRIPT:
	case K_DOWNSCRIPT:
		/* minivmm runs no scripts: configure the interface before. */
		if (strcmp(v, "no") && strcmp(v, ""))
			return fail(e, "%s=%s: minivmm runs no scripts; set the tap up beforehand "
				    "and give %s=no", key_names[k], log_shown(v, s), key_names[k]);
		return 0;
	case K_NETDEV:
		return copy_id(e, "netdev", v, p->nic->netdev, sizeof(p->nic->netdev));
	case K_MAC:
		p->nic->mac_given = true;
		return parse_mac(e, v, p->nic->mac);
	case K_MTU: {
		char *end;
		unsigned long m = strtoul(v, &end, 10);

		if (!isdigit((unsigned char)*v) || *end || m < NETDEV_MIN_MTU || m > NETDEV_USER_MTU)
			return fail(e, "mtu '%s' is not %d..%d", log_shown(v, s), NETDEV_MIN_MTU,
				    NETDEV_USER_MTU);
		p->nd->mtu = (uint16_t)m;
		return 0;
	}
	case K_MODEL:
		if (strcmp(v, "virtio-net-pci") && strcmp(v, "virtio") && strcmp(v, "virtio-net"))
			return fail(e, "model '%s': minivmm has virtio-net-pci only", log_shown(v, s));
		return 0;
	default:
		return -EINVAL;
	}
}

/* Split opts (after the name) into key=value pairs and apply those in
 * `allowed`. */
static int parse_opts(const struct perr *e, const char *opts, unsigned int allowed,
		      struct parsed *p)
{
	char val[SPEC_MAX], key[16], s[LOG_SHOWN_MAX + 4];
	const char *c = opts;

	while (*c) {
		size_t kn = strcspn(c, "=,"), vn = 0;
		int k, err;

		if (kn == 0 || c[kn] != '=')
			return fail(e, "option '%s' is not key=value", log_shown(c, s));
		if (kn >= sizeof(key))
			return fail(e, "unknown option '%s'", log_shown(c, s));
		memcpy(key, c, kn);
		key[kn] = '\0';
		c += kn + 1;
		while (*c && vn < sizeof(val) - 1) {
			if (*c == ',' && c[1] == ',') {
				val[vn++] = ',';
				c += 2;
			} else if (*c == ',') {
				break;
			} else {
				val[vn++] = *c++;
			}
		}
		val[vn] = '\0';
		if (*c == ',') {
			c++;
			if (!*c)
				return fail(e, "a trailing comma");
		}
		for (k = 0; k < NR_KEYS; k++)
			if (!strcmp(key, key_names[k]))
				break;
		if (k == NR_KEYS || !(allowed & (1u << k)))
			return fail(e, "unknown option '%s'", log_shown(key, s));
		if ((p->seen & (1u << k)) && k != K_HOSTFWD)
			return fail(e, "option '%s' given twice", key);
		p->seen |= 1u << k;
		err = apply_key(e, p, (enum key)k, val);
		if (err)
			return err;
	}
	return 0;
}

/* "user" / "tap" and the rest of the spec after its comma. */
static int split_kind(const struct perr *e, const char *spec, enum netdev_kind *kind,
		      const char **rest)
{
	char s[LOG_SHOWN_MAX + 4];
	size_t n = strcspn(spec, ",");

	if (strlen(spec) >= SPEC_MAX)
		return fail(e, "description too long");
	if (n == 4 && !strncmp(spec, "user", 4))
		*kind = NETDEV_USER;
	else if (n == 3 && !strncmp(spec, "tap", 3))
		*kind = NETDEV_TAP;
	else
		return fail(e, "unknown network backend '%.*s' (known: user, tap)", (int)n,
			    log_shown(spec, s));
	*rest = spec[n] ? spec + n + 1 : spec + n;
	if (spec[n] && !spec[n + 1])
		return fail(e, "a trailing comma");
	return 0;
}

static int check_netdev(const struct perr *e, const struct parsed *p, bool need_id)
{
	if (need_id && !p->nd->id[0])
		return fail(e, "id= is required");
	if (p->nd->kind == NETDEV_TAP && !p->nd->ifname[0])
		return fail(e, "tap needs ifname=NAME");
	return 0;
}

int netdev_parse(const char *spec, struct netdev_config *cfg, char *err, size_t err_len)
{
	const struct perr e = { "-netdev", err, err_len };
	struct parsed p = { .nd = cfg };
	const char *rest;
	int r;

	memset(cfg, 0, sizeof(*cfg));
	cfg->mtu = NETDEV_USER_MTU;
	r = split_kind(&e, spec, &cfg->kind, &rest);
	if (!r)
		r = parse_opts(&e, rest, cfg->kind == NETDEV_TAP ? KEYS_TAP : KEYS_USER, &p);
	return r ? r : check_netdev(&e, &p, true);
}

int nic_device_parse(const char *opts, struct nic_config *nic, char *err, size_t err_len)
{
	const struct perr e = { "-device virtio-net-pci", err, err_len };
	struct parsed p = { .nic = nic };
	int r;

	memset(nic, 0, sizeof(*nic));
	r = parse_opts(&e, opts, KEYS_DEVICE, &p);
	if (!r && !nic->netdev[0])
		r = fail(&e, "netdev=ID is required (the -netdev it is connected to)");
	return r;
}

int nic_parse(const char *spec, const char *id, struct netdev_config *cfg,
	      struct nic_config *nic, char *err, size_t err_len)
{
	const struct perr e = { "-nic", err, err_len };
	struct parsed p = { .nd = cfg, .nic = nic };
	const char *rest;
	int r;

	memset(cfg, 0, sizeof(*cfg));
	memset(nic, 0, sizeof(*nic));
	cfg->mtu = NETDEV_USER_MTU;
	r = split_kind(&e, spec, &cfg->kind, &rest);
	if (!r)
		r = parse_opts(&e, rest,
			       ((cfg->kind == NETDEV_TAP ? KEYS_TAP : KEYS_USER) & ~(1u << K_ID)) |
			       KEYS_NIC, &p);
	if (!r)
		r = check_netdev(&e, &p, false);
	if (!r) {
		snprintf(cfg->id, sizeof(cfg->id), "%s", id);
		snprintf(nic->netdev, sizeof(nic->netdev), "%s", id);
	}
	return r;
}

int netdev_format(const struct netdev_config *cfg, char *buf, size_t len)
{
	size_t n;

	if (cfg->kind == NETDEV_TAP)
		n = (size_t)snprintf(buf, len, "tap,id=%s,ifname=%s", cfg->id, cfg->ifname);
	else
		n = (size_t)snprintf(buf, len, "user,id=%s,mtu=%u%s", cfg->id, cfg->mtu,
				     cfg->restricted ? ",restrict=on" : "");
	for (unsigned int i = 0; cfg->kind == NETDEV_USER && i < cfg->nr_fwd && n < len; i++) {
		const struct netdev_fwd *f = &cfg->fwd[i];
		char h[INET_ADDRSTRLEN], g[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &f->host_addr, h, sizeof(h));
		inet_ntop(AF_INET, &f->guest_addr, g, sizeof(g));
		n += (size_t)snprintf(buf + n, len - n, ",hostfwd=%s:%s:%u-%s:%u",
				      f->udp ? "udp" : "tcp", h, f->host_port, g, f->guest_port);
	}
	return n < len ? 0 : -ENAMETOOLONG;
}
