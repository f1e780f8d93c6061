// SPDX-License-Identifier: MIT
/* RSP framing and hex helpers (rsp.h): pure, every input bounded. */
#include "debug/rsp.h"

#include <string.h>

#define RSP_ESCAPE   '}'
#define RSP_RUN_MARK '*'
#define RSP_RUN_BIAS 29     /* count byte - 29 = extra copies */
#define RSP_RUN_MIN  3      /* the smallest count byte is ' ' (32) */
#define RSP_RUN_MAX  97     /* the largest is '~' (126) */

static const char hex_digits[] = "0123456789abcdef";

void rsp_decoder_init(struct rsp_decoder *d)
{
	d->state = RSP_IDLE;
	d->len = 0;
	d->sum = 0;
	d->want = 0;
	d->prev = -1;
	d->escape = false;
	d->bad = false;
	d->buf[0] = 0;
}

static void start_packet(struct rsp_decoder *d)
{
	rsp_decoder_init(d);
	d->state = RSP_BODY;
}

/* One raw payload byte after runs are expanded: undo the escape. */
static void put_raw(struct rsp_decoder *d, uint8_t c)
{
	if (!d->escape && c == RSP_ESCAPE) {
		d->escape = true;
		return;
	}
	if (d->escape) {
		c ^= 0x20;
		d->escape = false;
	}
	if (d->len >= RSP_MAX_PACKET) {
		d->bad = true;
		return;
	}
	d->buf[d->len++] = c;
}

static enum rsp_event idle_byte(struct rsp_decoder *d, uint8_t c)
{
	switch (c) {
	case '$':
		start_packet(d);
		return RSP_NONE;
	case '+':
		return RSP_ACK;
	case '-':
		return RSP_NAK;
	case 0x03:
		return RSP_INTERRUPT;
	default:
		return RSP_NONE;	/* noise between packets */
	}
}

static void body_byte(struct rsp_decoder *d, uint8_t c)
{
	d->sum += c;
	if (c == RSP_RUN_MARK && !d->escape) {
		if (d->prev < 0)
			d->bad = true;	/* nothing to repeat */
		d->state = RSP_RUN;
		return;
	}
	d->prev = c;
	put_raw(d, c);
}

static void run_byte(struct rsp_decoder *d, uint8_t c)
{
	int n = (int)c - RSP_RUN_BIAS;

	d->sum += c;
	d->state = RSP_BODY;
	if (d->bad)
		return;
	if (n < RSP_RUN_MIN || n > RSP_RUN_MAX) {
		d->bad = true;
		return;
	}
	while (n-- > 0 && !d->bad)
		put_raw(d, (uint8_t)d->prev);
}

static enum rsp_event end_packet(struct rsp_decoder *d, int digit)
{
	bool ok = digit >= 0 && (uint8_t)(d->want | digit) == d->sum;

	d->state = RSP_IDLE;
	if (d->want == 0xFF) /* a bad first digit */
		ok = false;
	if (!ok)
		return RSP_BAD_CHECKSUM;
	if (d->bad || d->escape)
		return RSP_MALFORMED;
	d->buf[d->len] = 0;
	return RSP_PACKET;
}

enum rsp_event rsp_decode_byte(struct rsp_decoder *d, uint8_t c)
{
	int digit;

	if (d->state == RSP_IDLE)
		return idle_byte(d, c);
	if (c == '$') {		/* resynchronise on a new packet */
		start_packet(d);
		return RSP_NONE;
	}
	switch (d->state) {
	case RSP_BODY:
		if (c == '#')
			d->state = RSP_SUM1;
		else
			body_byte(d, c);
		return RSP_NONE;
	case RSP_RUN:
		if (c == '#') {	/* a run mark with no count */
			d->bad = true;
			d->state = RSP_SUM1;
		} else {
			run_byte(d, c);
		}
		return RSP_NONE;
	case RSP_SUM1:
		digit = rsp_hex_digit(c);
		d->want = digit < 0 ? 0xFF : (uint8_t)(digit << 4);
		d->state = RSP_SUM2;
		return RSP_NONE;
	case RSP_SUM2:
		return end_packet(d, rsp_hex_digit(c));
	default:
		return idle_byte(d, c);
	}
}

/* Count byte for n extra copies, avoiding '#' and '$'; 0 if none fits. */
static size_t run_extra(const char *p, size_t left)
{
	size_t n = 0;

	while (n + 1 < left && p[n + 1] == p[0] && n < RSP_RUN_MAX)
		n++;
	if (n < RSP_RUN_MIN)
		return 0;
	while (n + RSP_RUN_BIAS == '#' || n + RSP_RUN_BIAS == '$')
		n--;	/* 6 and 7 would make '#' and '$' */
	return n;
}

size_t rsp_encode(const char *payload, size_t len, bool rle, char *out, size_t cap)
{
	size_t o = 0;
	uint8_t sum = 0;

	if (cap < 4)
		return 0;
	out[o++] = '$';
	for (size_t i = 0; i < len; i++) {
		size_t extra = rle ? run_extra(payload + i, len - i) : 0;
		size_t need = extra ? 3 : 1;

		if (o + need + 3 > cap)
			return 0;
		out[o++] = payload[i];
		sum += (uint8_t)payload[i];
		if (extra) {
			out[o++] = RSP_RUN_MARK;
			out[o++] = (char)(extra + RSP_RUN_BIAS);
			sum += (uint8_t)RSP_RUN_MARK + (uint8_t)(extra + RSP_RUN_BIAS);
			i += extra;
		}
	}
	out[o++] = '#';
	out[o++] = hex_digits[sum >> 4];
	out[o++] = hex_digits[sum & 0xF];
	return o;
}

size_t rsp_escape(const uint8_t *in, size_t len, char *out, size_t cap, size_t *used)
{
	size_t o = 0, i;

	for (i = 0; i < len; i++) {
		uint8_t c = in[i];
		bool esc = c == '#' || c == '$' || c == RSP_ESCAPE || c == RSP_RUN_MARK;

		if (o + (esc ? 2 : 1) > cap)
			break;
		if (esc) {
			out[o++] = RSP_ESCAPE;
			c ^= 0x20;
		}
		out[o++] = (char)c;
	}
	*used = i;
	return o;
}

int rsp_hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void rsp_hex_encode(const uint8_t *in, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex_digits[in[i] >> 4];
		out[2 * i + 1] = hex_digits[in[i] & 0xF];
	}
	out[2 * n] = 0;
}

int rsp_hex_decode(const char *in, size_t n, uint8_t *out)
{
	for (size_t i = 0; i < n; i++) {
		int hi = rsp_hex_digit((unsigned char)in[2 * i]);
		int lo = hi < 0 ? -1 : rsp_hex_digit((unsigned char)in[2 * i + 1]);

		if (lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int rsp_parse_hex(const char **p, uint64_t *v)
{
	const char *s = *p;
	uint64_t x = 0;
	int n = 0, d;

	while ((d = rsp_hex_digit((unsigned char)*s)) >= 0) {
		if (++n > 16)
			return -1;
		x = x << 4 | (uint64_t)d;
		s++;
	}
	if (!n)
		return -1;
	*v = x;
	*p = s;
	return 0;
}
