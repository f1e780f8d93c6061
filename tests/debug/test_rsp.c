// SPDX-License-Identifier: MIT
/*
 * RSP framing: good packets, checksums, escapes, run-length, overlong and
 * malformed packets, noise and resynchronisation, and the encoder round
 * trip (every frame it writes decodes back to its payload).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "debug/rsp.h"

/* Feed s; the events seen, in order, as letters: P packet, C bad checksum,
 * M malformed, I interrupt, + ack, - nak. */
static const char *feed(struct rsp_decoder *d, const char *s, size_t len)
{
	static char ev[64];
	size_t n = 0;

	for (size_t i = 0; i < len && n + 1 < sizeof(ev); i++) {
		switch (rsp_decode_byte(d, (uint8_t)s[i])) {
		case RSP_PACKET:
			ev[n++] = 'P';
			break;
		case RSP_BAD_CHECKSUM:
			ev[n++] = 'C';
			break;
		case RSP_MALFORMED:
			ev[n++] = 'M';
			break;
		case RSP_INTERRUPT:
			ev[n++] = 'I';
			break;
		case RSP_ACK:
			ev[n++] = '+';
			break;
		case RSP_NAK:
			ev[n++] = '-';
			break;
		case RSP_NONE:
			break;
		}
	}
	ev[n] = 0;
	return ev;
}

#define FEED(d, lit) feed((d), (lit), sizeof(lit) - 1)

static struct rsp_decoder *dec(void)
{
	static struct rsp_decoder d;

	rsp_decoder_init(&d);
	return &d;
}

static void test_good_packets(void **state)
{
	struct rsp_decoder *d = dec();

	assert_string_equal(FEED(d, "$g#67"), "P");
	assert_int_equal(d->len, 1);
	assert_string_equal((char *)d->buf, "g");
	/* Upper-case checksum digits are fine; the empty packet is one. */
	assert_string_equal(FEED(d, "$qC#B4"), "P");
	assert_string_equal((char *)d->buf, "qC");
	assert_string_equal(FEED(d, "$#00"), "P");
	assert_int_equal(d->len, 0);
	/* Acks, Ctrl-C and noise between packets. */
	assert_string_equal(FEED(d, "+-\x03xyz\r\n$?#3f"), "+-IP");
}

static void test_bad_checksums(void **state)
{
	struct rsp_decoder *d = dec();

	assert_string_equal(FEED(d, "$g#68"), "C");
	assert_string_equal(FEED(d, "$g#6"), "");      /* incomplete: waits */
	assert_string_equal(FEED(d, "7"), "P");
	assert_string_equal(FEED(d, "$g#zz"), "C");    /* not hex */
	assert_string_equal(FEED(d, "$g#6z"), "C");
	assert_string_equal(FEED(d, "$g#z7"), "C");
	/* Still in step afterwards. */
	assert_string_equal(FEED(d, "$g#67"), "P");
}

static void test_resync_on_dollar(void **state)
{
	struct rsp_decoder *d = dec();

	/* A '$' inside a packet starts a new one, in the body or the sum. */
	assert_string_equal(FEED(d, "$mgarbage$g#67"), "P");
	assert_string_equal((char *)d->buf, "g");
	assert_string_equal(FEED(d, "$g#$g#67"), "P");
	/* 0x03 inside a packet is payload, not an interrupt. */
	assert_string_equal(FEED(d, "$\x03#03"), "P");
	assert_int_equal(d->buf[0], 3);
}

static void test_escapes(void **state)
{
	struct rsp_decoder *d = dec();

	/* X packets escape '#', '$', '}' and '*' as '}' + (byte ^ 0x20); the
	 * checksum is over the bytes as sent. */
	assert_string_equal(FEED(d, "$}\x03}\x04}]}\x0a#62"), "P");
	assert_int_equal(d->len, 4);
	assert_memory_equal(d->buf, "#$}*", 4);
	/* A packet ending inside an escape is malformed. */
	assert_string_equal(FEED(d, "$a}#de"), "M");
	/* NUL bytes survive (binary data). */
	assert_string_equal(FEED(d, "$}\x20#9d"), "P");
	assert_int_equal(d->len, 1);
	assert_int_equal(d->buf[0], 0);
}

static void test_run_length(void **state)
{
	struct rsp_decoder *d = dec();

	/* "0* " is '0' and 3 more ("0000"); '*' and the count are summed. */
	assert_string_equal(FEED(d, "$0* #7a"), "P");
	assert_string_equal((char *)d->buf, "0000");
	assert_string_equal(FEED(d, "$a0*\"b#3f"), "P");
	assert_string_equal((char *)d->buf, "a000000b");
	/* Runs repeat the raw byte before escapes are undone, as gdb does:
	 * raw "}]*!" is "}]]]]]", which unescapes to '}' and "]]]]". */
	assert_string_equal(FEED(d, "$}]*!#25"), "P");
	assert_string_equal((char *)d->buf, "}]]]]");
	/* Bad runs: nothing to repeat, a count below ' ' or above '~', a
	 * mark with no count. */
	assert_string_equal(FEED(d, "$* #4a"), "M");
	assert_string_equal(FEED(d, "$0*\x1f#79"), "M");
	assert_string_equal(FEED(d, "$0*\x7f#d9"), "M");
	assert_string_equal(FEED(d, "$0*#5a"), "M");
	assert_string_equal(FEED(d, "$g#67"), "P");
}

static void test_overlong(void **state)
{
	struct rsp_decoder *d = dec();
	size_t n = RSP_MAX_PACKET + 10;
	char *pkt = malloc(n + 5);
	uint8_t sum = 0;

	assert_non_null(pkt);
	pkt[0] = '$';
	for (size_t i = 0; i < n; i++) {
		pkt[1 + i] = 'a';
		sum += 'a';
	}
	snprintf(pkt + 1 + n, 4, "#%02x", sum);
	assert_string_equal(feed(d, pkt, n + 4), "M");
	/* Exactly the limit is fine. */
	sum = 0;
	for (size_t i = 0; i < RSP_MAX_PACKET; i++)
		sum += 'a';
	snprintf(pkt + 1 + RSP_MAX_PACKET, 4, "#%02x", sum);
	assert_string_equal(feed(d, pkt, RSP_MAX_PACKET + 4), "P");
	assert_int_equal(d->len, RSP_MAX_PACKET);
	/* A run that would overflow is malformed too, without overrun. */
	sum = 0;
	memset(pkt + 1, 'b', RSP_MAX_PACKET - 2);
	for (size_t i = 0; i < RSP_MAX_PACKET - 2; i++)
		sum += 'b';
	memcpy(pkt + RSP_MAX_PACKET - 1, "*~", 2);
	sum += '*' + '~';
	snprintf(pkt + RSP_MAX_PACKET + 1, 4, "#%02x", sum);
	assert_string_equal(feed(d, pkt, RSP_MAX_PACKET + 4), "M");
	free(pkt);
}

static void round_trip(const char *payload, size_t len, bool rle)
{
	struct rsp_decoder *d = dec();
	char frame[RSP_MAX_REPLY + 8];
	size_t n = rsp_encode(payload, len, rle, frame, sizeof(frame));

	assert_true(n > 0);
	assert_string_equal(feed(d, frame, n), "P");
	assert_int_equal(d->len, len);
	assert_memory_equal(d->buf, payload, len);
}

static void test_encoder(void **state)
{
	char frame[64];
	char big[4000];

	assert_int_equal(rsp_encode("OK", 2, true, frame, sizeof(frame)), 6);
	assert_memory_equal(frame, "$OK#9a", 6);
	/* Runs of 4+ compress; 7 and 8 equal bytes avoid '#' and '$'. */
	assert_int_equal(rsp_encode("00000000", 8, true, frame, sizeof(frame)), 9);
	assert_memory_equal(frame, "$0*\"00#", 7);
	assert_int_equal(rsp_encode("000", 3, true, frame, sizeof(frame)), 7);
	/* Too small a buffer: nothing. */
	assert_int_equal(rsp_encode("OK", 2, false, frame, 5), 0);
	round_trip("", 0, true);
	for (size_t len = 1; len < 120; len++) {
		memset(big, 'f', len);
		round_trip(big, len, true);
		round_trip(big, len, false);
	}
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = "0123456789abcdef"[(i / (1 + i % 9)) % 16];
	round_trip(big, sizeof(big), true);
}

static void test_escape_binary(void **state)
{
	const uint8_t in[] = { 'a', '#', '$', '}', '*', 0, 0xff };
	char out[32];
	size_t used, n = rsp_escape(in, sizeof(in), out, sizeof(out), &used);

	assert_int_equal(used, sizeof(in));
	assert_int_equal(n, sizeof(in) + 4);
	assert_memory_equal(out, "a}\x03}\x04}]}\x0a\0\xff", n);
	/* It stops before an escape that would not fit. */
	n = rsp_escape(in, sizeof(in), out, 2, &used);
	assert_int_equal(used, 1);
	assert_int_equal(n, 1);
	/* The decoder undoes it. */
	{
		struct rsp_decoder *d = dec();
		char frame[64];
		size_t len = rsp_escape(in, sizeof(in), out, sizeof(out), &used);
		size_t f = rsp_encode(out, len, false, frame, sizeof(frame));

		assert_string_equal(feed(d, frame, f), "P");
		assert_int_equal(d->len, sizeof(in));
		assert_memory_equal(d->buf, in, sizeof(in));
	}
}

static void test_hex(void **state)
{
	const char *p;
	uint8_t b[4];
	char s[9];
	uint64_t v;

	rsp_hex_encode((const uint8_t *)"\x01\xab\xff\x00", 4, s);
	assert_string_equal(s, "01abff00");
	assert_int_equal(rsp_hex_decode("01ABff00", 4, b), 0);
	assert_memory_equal(b, "\x01\xab\xff\x00", 4);
	assert_int_equal(rsp_hex_decode("0g", 1, b), -1);
	assert_int_equal(rsp_hex_decode("0", 1, b), -1);	/* stops at the NUL */
	p = "ffffffff81000000,4";
	assert_int_equal(rsp_parse_hex(&p, &v), 0);
	assert_true(v == 0xffffffff81000000ULL);
	assert_string_equal(p, ",4");
	p = "10000000000000000";	/* 17 digits */
	assert_int_equal(rsp_parse_hex(&p, &v), -1);
	p = ",";
	assert_int_equal(rsp_parse_hex(&p, &v), -1);
}

/* Random bytes never make the decoder misbehave, and it recovers. */
static void test_noise(void **state)
{
	struct rsp_decoder *d = dec();
	uint32_t x = 12345;

	for (int i = 0; i < 200000; i++) {
		x = x * 1103515245 + 12345;
		rsp_decode_byte(d, (uint8_t)(x >> 16));
		assert_true(d->len <= RSP_MAX_PACKET);
	}
	/* Whatever state the noise left, a '#' and two digits end it and
	 * the next packet is read. */
	{
		const char *ev = FEED(d, "#00$g#67");

		assert_int_equal(ev[strlen(ev) - 1], 'P');
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_packets),
		cmocka_unit_test(test_bad_checksums),
		cmocka_unit_test(test_resync_on_dollar),
		cmocka_unit_test(test_escapes),
		cmocka_unit_test(test_run_length),
		cmocka_unit_test(test_overlong),
		cmocka_unit_test(test_encoder),
		cmocka_unit_test(test_escape_binary),
		cmocka_unit_test(test_hex),
		cmocka_unit_test(test_noise),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
