/* SPDX-License-Identifier: MIT */
/*
 * The GDB Remote Serial Protocol's framing, pure (no I/O): a byte-at-a-time
 * decoder for what gdb sends and an encoder for what the stub answers
 * (gdb's manual, "Overview" and "Binary Data").
 *
 *   $<payload>#<two hex digits: sum of the payload bytes mod 256>
 *
 * Inside a payload '}' escapes the next byte (XOR 0x20) and "X*N" repeats
 * the byte X N-29 more times; as gdb does, runs are expanded on the raw
 * bytes before escapes are undone.  Outside packets: '+' and '-'
 * acknowledge, 0x03 is an interrupt (Ctrl-C), anything else is noise.
 * A '$' inside a packet starts a new one (gdb resends after noise).
 */
#ifndef MINIVMM_DEBUG_RSP_H
#define MINIVMM_DEBUG_RSP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest payload accepted, after escapes and runs are undone; advertised
 * to gdb as PacketSize.  Replies are built in buffers of RSP_MAX_REPLY. */
#define RSP_MAX_PACKET 16384
#define RSP_MAX_REPLY  (2 * RSP_MAX_PACKET + 64)

enum rsp_event {
	RSP_NONE,         /* byte taken; nothing complete yet */
	RSP_PACKET,       /* d->buf[0, d->len) is a packet, NUL-terminated */
	RSP_BAD_CHECKSUM, /* a whole packet with a wrong checksum: NAK it */
	RSP_MALFORMED,    /* a whole packet, too long or with a bad run: drop */
	RSP_INTERRUPT,    /* 0x03 between packets */
	RSP_ACK,
	RSP_NAK,
};

struct rsp_decoder {
	enum { RSP_IDLE, RSP_BODY, RSP_RUN, RSP_SUM1, RSP_SUM2 } state;
	uint8_t buf[RSP_MAX_PACKET + 1];
	size_t len;
	uint8_t sum;       /* of the raw bytes between '$' and '#' */
	uint8_t want;      /* the checksum as sent */
	int prev;          /* last raw payload byte, -1 at the start */
	bool escape;       /* the last raw byte was '}' */
	bool bad;          /* too long, or a malformed run */
};

void rsp_decoder_init(struct rsp_decoder *d);
enum rsp_event rsp_decode_byte(struct rsp_decoder *d, uint8_t c);

/*
 * Frame payload as "$...#xx" into out (at most cap bytes), compressing runs
 * of 4 or more equal bytes when rle.  The payload must not contain '$',
 * '#' or '*' (rsp_escape() binary data first).  Returns the frame's length,
 * or 0 when it does not fit.
 */
size_t rsp_encode(const char *payload, size_t len, bool rle, char *out, size_t cap);

/* Binary data for a reply (qXfer): '#', '$', '}' and '*' become '}' and
 * the byte XOR 0x20.  Returns the bytes written; stops before overflowing
 * cap, with *used set to the input bytes consumed. */
size_t rsp_escape(const uint8_t *in, size_t len, char *out, size_t cap, size_t *used);

/* Hex helpers.  rsp_hex_encode writes 2n digits and a NUL; rsp_hex_decode
 * reads exactly 2n digits: 0, or -1 on a non-hex digit. */
void rsp_hex_encode(const uint8_t *in, size_t n, char *out);
int rsp_hex_decode(const char *in, size_t n, uint8_t *out);
int rsp_hex_digit(int c);
/* A big-endian hex number of 1..16 digits at *p; *p moves past it.
 * 0, or -1 (no digits, or more than 16). */
int rsp_parse_hex(const char **p, uint64_t *v);

#endif
