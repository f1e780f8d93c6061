// SPDX-License-Identifier: MIT
/* -netdev, -nic and -device virtio-net-pci spellings: every option, and the
 * hostile ones refused in one line. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "backends/net/netdev.h"

static struct netdev_config nd;
static struct nic_config nic;
static char err[256];

static void assert_refused(int r, const char *spec, const char *what)
{
	if (r != -EINVAL)
		fail_msg("'%.60s' was not refused", spec);
	if (!strstr(err, what))
		fail_msg("'%.60s': message '%s' lacks '%s'", spec, err, what);
	assert_null(strchr(err, '\n'));
}

#define REFUSED(spec, what) \
	assert_refused(netdev_parse(spec, &nd, err, sizeof(err)), spec, what)

static const char *ip(struct in_addr a)
{
	static char buf[INET_ADDRSTRLEN];

	return inet_ntop(AF_INET, &a, buf, sizeof(buf));
}

static void test_user(void **state)
{
	assert_int_equal(netdev_parse("user,id=n0", &nd, err, sizeof(err)), 0);
	assert_int_equal(nd.kind, NETDEV_USER);
	assert_string_equal(nd.id, "n0");
	assert_int_equal(nd.nr_fwd, 0);
	assert_int_equal(nd.mtu, NETDEV_USER_MTU);
	assert_int_equal(netdev_parse("user,id=q,mtu=1500", &nd, err, sizeof(err)), 0);
	assert_int_equal(nd.mtu, 1500);
	assert_int_equal(netdev_parse("user,id=net.1,hostfwd=tcp::2222-:22,"
				      "hostfwd=udp:0.0.0.0:5353-10.0.2.16:53,"
				      "hostfwd=:127.0.0.2:80-:8080,restrict=on",
				      &nd, err, sizeof(err)), 0);
	assert_int_equal(nd.nr_fwd, 3);
	assert_false(nd.fwd[0].udp);
	assert_string_equal(ip(nd.fwd[0].host_addr), "127.0.0.1");   /* not every address */
	assert_int_equal(nd.fwd[0].host_port, 2222);
	assert_string_equal(ip(nd.fwd[0].guest_addr), "10.0.2.15");
	assert_int_equal(nd.fwd[0].guest_port, 22);
	assert_true(nd.fwd[1].udp);
	assert_string_equal(ip(nd.fwd[1].host_addr), "0.0.0.0");
	assert_string_equal(ip(nd.fwd[1].guest_addr), "10.0.2.16");
	assert_false(nd.fwd[2].udp);
	assert_string_equal(ip(nd.fwd[2].host_addr), "127.0.0.2");
	assert_true(nd.restricted);
}

static void test_tap(void **state)
{
	assert_int_equal(netdev_parse("tap,id=t0,ifname=mvtap0,script=no,downscript=no", &nd,
				      err, sizeof(err)), 0);
	assert_int_equal(nd.kind, NETDEV_TAP);
	assert_string_equal(nd.ifname, "mvtap0");
	REFUSED("tap,id=t0", "ifname");
	REFUSED("tap,id=t0,ifname=x,script=/etc/qemu-ifup", "runs no scripts");
	REFUSED("tap,id=t0,ifname=a-very-long-interface-name", "ifname");
	REFUSED("tap,id=t0,ifname=x,hostfwd=tcp::1-:2", "unknown option 'hostfwd'");
}

static void test_refused(void **state)
{
	REFUSED("socket,id=s", "unknown network backend 'socket'");
	REFUSED("user", "id= is required");
	REFUSED("user,id=", "id");
	REFUSED("user,id=a b", "only letters");
	REFUSED("user,id=n0,", "trailing comma");
	REFUSED("user,id=n0,,", "only letters");   /* ",," is a comma in the id */
	REFUSED("user,id=n0,id=n1", "given twice");
	REFUSED("user,id=n0,bogus=1", "unknown option 'bogus'");
	REFUSED("user,id=n0,hostfwd", "key=value");
	REFUSED("user,id=n0,hostfwd=tcp:2222-:22", "is not [tcp|udp]");
	REFUSED("user,id=n0,hostfwd=sctp::1-:2", "protocol 'sctp'");
	REFUSED("user,id=n0,hostfwd=tcp::0-:22", "host port '0'");
	REFUSED("user,id=n0,hostfwd=tcp::65536-:22", "host port '65536'");
	REFUSED("user,id=n0,hostfwd=tcp::22x-:22", "host port");
	REFUSED("user,id=n0,hostfwd=tcp::-:22", "host port ''");
	REFUSED("user,id=n0,hostfwd=tcp:localhost:22-:22", "host address 'localhost'");
	REFUSED("user,id=n0,hostfwd=tcp::22-10.0.2:22", "guest address");
	REFUSED("user,id=n0,hostfwd=tcp::22-:", "guest port");
	REFUSED("user,id=n0,restrict=maybe", "not on or off");
	REFUSED("user,id=n0,mtu=65521", "mtu '65521' is not 576..65520");
	REFUSED("user,id=n0,mtu=100", "is not 576");
	REFUSED("user,id=n0,mtu=1500x", "mtu");
	REFUSED("tap,id=t0,ifname=x,mtu=9000", "unknown option 'mtu'");
}

static void test_device_and_nic(void **state)
{
	assert_int_equal(nic_device_parse("netdev=n0,mac=52:54:00:aa:bb:cc", &nic, err,
					  sizeof(err)), 0);
	assert_string_equal(nic.netdev, "n0");
	assert_true(nic.mac_given);
	assert_int_equal(nic.mac[3], 0xaa);
	assert_int_equal(nic.mac[5], 0xcc);
	assert_refused(nic_device_parse("mac=52:54:00:aa:bb:cc", &nic, err, sizeof(err)),
		       "mac only", "netdev=ID is required");
	assert_refused(nic_device_parse("netdev=n0,mac=52:54:00:aa:bb", &nic, err, sizeof(err)),
		       "short mac", "six hex bytes");
	assert_refused(nic_device_parse("netdev=n0,mac=01:00:5e:00:00:01", &nic, err,
					sizeof(err)), "multicast mac", "multicast");
	assert_refused(nic_device_parse("netdev=n0,mac=52:54:00:aa:bb:ccdd", &nic, err,
					sizeof(err)), "long mac", "six hex bytes");

	assert_int_equal(nic_parse("user,hostfwd=tcp::8022-:22,mac=52:54:00:00:00:09,"
				   "model=virtio-net-pci", "__nic0", &nd, &nic, err, sizeof(err)),
			 0);
	assert_string_equal(nd.id, "__nic0");
	assert_string_equal(nic.netdev, "__nic0");
	assert_int_equal(nd.fwd[0].host_port, 8022);
	assert_int_equal(nic.mac[5], 9);
	{
		char spec[256];
		struct netdev_config again;

		/* What a snapshot keeps parses back to the same netdev. */
		assert_int_equal(netdev_format(&nd, spec, sizeof(spec)), 0);
		assert_int_equal(netdev_parse(spec, &again, err, sizeof(err)), 0);
		assert_int_equal(again.nr_fwd, 1);
		assert_int_equal(again.fwd[0].host_port, 8022);
		assert_int_equal(again.mtu, nd.mtu);
		assert_int_equal(netdev_format(&nd, spec, 10), -ENAMETOOLONG);
	}
	assert_refused(nic_parse("user,model=e1000", "x", &nd, &nic, err, sizeof(err)),
		       "e1000", "virtio-net-pci only");
	assert_refused(nic_parse("user,id=n0", "x", &nd, &nic, err, sizeof(err)),
		       "-nic id", "unknown option 'id'");

	nic_default_mac(0, nic.mac);
	assert_int_equal(nic.mac[5], 0x56);
	nic_default_mac(2, nic.mac);
	assert_int_equal(nic.mac[5], 0x58);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_user),
		cmocka_unit_test(test_tap),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_device_and_nic),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
