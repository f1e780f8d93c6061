// SPDX-License-Identifier: MIT
#define ZLIB_CONST
#include "boot/decompress.h"

#include <bzlib.h>
#include <errno.h>
#include <limits.h>
#include <lz4.h>
#include <lz4frame.h>
#include <lzma.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "base/log.h"
#include "base/util.h"

/* The kernel builds lz4 payloads with "lz4 -l": the legacy frame, a magic
 * then [le32 compressed size][block]..., each block at most 8 MiB out. */
#define LZ4_LEGACY_MAGIC 0x184C2102u
#define LZ4_LEGACY_BLOCK (8u << 20)
/* The kernel's xz uses a 32 MiB dictionary; this bounds a hostile header. */
#define LZMA_MEMLIMIT    (256ULL << 20)

static const struct {
	enum decompress_format fmt;
	const char *name;
	const char *magic;
	size_t len;
} formats[] = {
	{ DECOMPRESS_NONE, "uncompressed", "\x7f" "ELF", 4 },
	{ DECOMPRESS_GZIP, "gzip", "\x1f\x8b", 2 },
	{ DECOMPRESS_XZ, "xz", "\xfd" "7zXZ\0", 6 },
	{ DECOMPRESS_ZSTD, "zstd", "\x28\xb5\x2f\xfd", 4 },
	{ DECOMPRESS_LZMA, "lzma", "\x5d\0\0", 3 },
	{ DECOMPRESS_BZIP2, "bzip2", "BZh", 3 },
	{ DECOMPRESS_LZ4, "lz4", "\x02\x21\x4c\x18", 4 },
	{ DECOMPRESS_LZ4F, "lz4 frame", "\x04\x22\x4d\x18", 4 },
	{ DECOMPRESS_LZO, "lzo", "\x89LZO\0\r\n\x1a\n", 9 },
};

enum decompress_format decompress_detect(const uint8_t *in, size_t len)
{
	for (size_t i = 0; i < ARRAY_SIZE(formats); i++)
		if (len >= formats[i].len && !memcmp(in, formats[i].magic, formats[i].len))
			return formats[i].fmt;
	return DECOMPRESS_UNKNOWN;
}

const char *decompress_format_name(enum decompress_format fmt)
{
	for (size_t i = 0; i < ARRAY_SIZE(formats); i++)
		if (formats[i].fmt == fmt)
			return formats[i].name;
	return "unknown";
}

/* The growing output buffer: producing more than `limit - 1` bytes fails. */
struct obuf {
	uint8_t *p;
	size_t len, cap, limit;
	const char *name;  /* the format's name */
	const char *what;  /* "gzip payload", "initrd: gzip member at 0x..." */
	size_t used;       /* input bytes the stream took */
};

/* Output past max bytes: the one refusal every decoder gives. */
static int too_large(const char *what, size_t max)
{
	log_err("%s decompresses to more than %zu bytes: refused", what, max);
	return -EFBIG;
}

/* Free space for the next decoder call (grown geometrically, capped at
 * UINT_MAX for the 32-bit APIs), or 0 with *err set. */
static size_t obuf_room(struct obuf *b, size_t want, int *err)
{
	size_t cap = b->cap ? b->cap : (1u << 20);
	uint8_t *p;

	if (b->len >= b->limit) {
		*err = too_large(b->what, b->limit - 1);
		return 0;
	}
	if (want > b->limit - b->len)
		want = b->limit - b->len;
	while (cap - b->len < want)
		cap = cap > b->limit / 2 ? b->limit : cap * 2;
	if (cap > b->limit)
		cap = b->limit;
	if (cap != b->cap) {
		p = realloc(b->p, cap);
		if (!p) {
			log_err("%s: out of memory for %zu bytes", b->what, cap);
			*err = -ENOMEM;
			return 0;
		}
		b->p = p;
		b->cap = cap;
	}
	return b->cap - b->len < UINT_MAX ? b->cap - b->len : UINT_MAX;
}

static int stream_error(const struct obuf *b, bool truncated, const char *why)
{
	if (truncated)
		log_err("%s is truncated", b->what);
	else
		log_err("%s is corrupt (%s)", b->what, why);
	return -EINVAL;
}

static int dec_gzip(const uint8_t *in, size_t len, struct obuf *b)
{
	z_stream zs = { 0 };
	int err = 0;

	if (len > UINT_MAX)
		return stream_error(b, false, "larger than 4 GiB");
	/* 16 + MAX_WBITS: the gzip wrapper only, checked CRC and size. */
	if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
		log_err("gzip: cannot initialise zlib");
		return -ENOMEM;
	}
	zs.next_in = in;
	zs.avail_in = (uInt)len;
	for (;;) {
		size_t room = obuf_room(b, 1, &err);
		int ret;

		if (!room)
			break;
		zs.next_out = b->p + b->len;
		zs.avail_out = (uInt)room;
		ret = inflate(&zs, Z_NO_FLUSH);
		b->len += room - zs.avail_out;
		if (ret == Z_STREAM_END)
			break;
		if (ret == Z_MEM_ERROR) {
			err = -ENOMEM;
			log_err("gzip: out of memory");
			break;
		}
		if ((ret != Z_OK && ret != Z_BUF_ERROR) || (zs.avail_in == 0 && zs.avail_out)) {
			err = stream_error(b, ret == Z_OK || ret == Z_BUF_ERROR,
					   zs.msg ? zs.msg : "zlib error");
			break;
		}
	}
	b->used = len - zs.avail_in;
	inflateEnd(&zs);
	return err;
}

static const char *lzma_why(lzma_ret r)
{
	switch (r) {
	case LZMA_FORMAT_ERROR: return "bad header";
	case LZMA_OPTIONS_ERROR: return "unsupported options";
	case LZMA_DATA_ERROR: return "data error";
	case LZMA_MEMLIMIT_ERROR: return "needs more than 256 MiB of decoder memory";
	default: return "liblzma error";
	}
}

/* xz streams and lzma "alone" files; both stop at their end marker. */
static int dec_lzma(const uint8_t *in, size_t len, struct obuf *b, bool alone)
{
	lzma_stream s = LZMA_STREAM_INIT;
	lzma_ret r = alone ? lzma_alone_decoder(&s, LZMA_MEMLIMIT)
			   : lzma_stream_decoder(&s, LZMA_MEMLIMIT, 0);
	int err = 0;

	if (r != LZMA_OK) {
		log_err("%s: cannot initialise liblzma", b->what);
		return -ENOMEM;
	}
	s.next_in = in;
	s.avail_in = len;
	for (;;) {
		size_t room = obuf_room(b, 1, &err);

		if (!room)
			break;
		s.next_out = b->p + b->len;
		s.avail_out = room;
		r = lzma_code(&s, LZMA_FINISH);
		b->len += room - s.avail_out;
		if (r == LZMA_STREAM_END)
			break;
		if (r == LZMA_OK)
			continue;
		if (r == LZMA_MEM_ERROR) {
			log_err("%s: out of memory", b->what);
			err = -ENOMEM;
		} else {
			err = stream_error(b, r == LZMA_BUF_ERROR, lzma_why(r));
		}
		break;
	}
	b->used = len - s.avail_in;
	lzma_end(&s);
	return err;
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static bool zstd_frame_follows(const uint8_t *p, size_t left)
{
	uint32_t m;

	if (left < 4)
		return false;
	m = get_le32(p);
	return m == ZSTD_MAGICNUMBER ||
	       (m & ZSTD_MAGIC_SKIPPABLE_MASK) == ZSTD_MAGIC_SKIPPABLE_START;
}

static int dec_zstd(const uint8_t *in, size_t len, struct obuf *b)
{
	ZSTD_DCtx *dctx = ZSTD_createDCtx();
	ZSTD_inBuffer ib = { in, len, 0 };
	int err = 0;

	if (!dctx) {
		log_err("zstd: cannot create a decompression context");
		return -ENOMEM;
	}
	for (;;) {
		size_t room = obuf_room(b, 1, &err);
		ZSTD_outBuffer ob = { b->p + b->len, room, 0 };
		size_t ret;

		if (!room)
			break;
		ret = ZSTD_decompressStream(dctx, &ob, &ib);
		b->len += ob.pos;
		if (ZSTD_isError(ret)) {
			err = stream_error(b, false, ZSTD_getErrorName(ret));
			break;
		}
		/* A frame ended: go on only if another one follows. */
		if (ret == 0 && !zstd_frame_follows(in + ib.pos, len - ib.pos))
			break;
		if (ret != 0 && ib.pos == len && ob.pos < ob.size) {
			err = stream_error(b, true, NULL);
			break;
		}
	}
	b->used = ib.pos;
	ZSTD_freeDCtx(dctx);
	return err;
}

static int dec_bzip2(const uint8_t *in, size_t len, struct obuf *b)
{
	bz_stream bz = { 0 };
	int err = 0;

	if (len > UINT_MAX)
		return stream_error(b, false, "larger than 4 GiB");
	if (BZ2_bzDecompressInit(&bz, 0, 0) != BZ_OK) {
		log_err("bzip2: cannot initialise libbz2");
		return -ENOMEM;
	}
	/* libbz2's next_in is not const, but it only reads through it. */
	bz.next_in = (char *)(uintptr_t)in;
	bz.avail_in = (unsigned int)len;
	for (;;) {
		size_t room = obuf_room(b, 1, &err);
		int ret;

		if (!room)
			break;
		bz.next_out = (char *)(b->p + b->len);
		bz.avail_out = (unsigned int)room;
		ret = BZ2_bzDecompress(&bz);
		b->len += room - bz.avail_out;
		if (ret == BZ_STREAM_END)
			break;
		if (ret == BZ_MEM_ERROR) {
			log_err("bzip2: out of memory");
			err = -ENOMEM;
			break;
		}
		if (ret != BZ_OK || (bz.avail_in == 0 && bz.avail_out)) {
			err = stream_error(b, ret == BZ_OK, "libbz2 error");
			break;
		}
	}
	b->used = len - bz.avail_in;
	BZ2_bzDecompressEnd(&bz);
	return err;
}

/* The legacy frame is a container we walk ourselves; each block goes to
 * LZ4_decompress_safe.  A 4-byte remainder after the last block is the
 * size the kernel build appends (no block is shorter than 5 bytes); a zero
 * block size ends the stream as in the kernel's unlz4 (initrd padding). */
static int dec_lz4(const uint8_t *in, size_t len, struct obuf *b)
{
	const size_t bound = (size_t)LZ4_compressBound(LZ4_LEGACY_BLOCK);
	const size_t limit = b->limit;
	size_t pos = 0, blocks = 0;
	int err = 0;

	/* Each block gets a full 8 MiB of room, even past the limit, so that
	 * "corrupt" and "too large" stay apart; the limit is checked after. */
	b->limit += LZ4_LEGACY_BLOCK;
	while (len - pos >= 4) {
		uint32_t v = get_le32(in + pos);
		size_t room;
		int n;

		if (v == LZ4_LEGACY_MAGIC) {
			pos += 4;
			continue;
		}
		if (blocks && (len - pos == 4 || v == 0))
			break;
		pos += 4;
		if (v == 0 || v > bound || v > len - pos) {
			err = stream_error(b, v > len - pos && v <= bound, "bad block size");
			break;
		}
		room = obuf_room(b, LZ4_LEGACY_BLOCK, &err);
		if (!room)
			break;
		n = LZ4_decompress_safe((const char *)in + pos, (char *)b->p + b->len, (int)v,
					(int)LZ4_LEGACY_BLOCK);
		if (n < 0) {
			err = stream_error(b, false, "bad block");
			break;
		}
		b->len += (size_t)n;
		if (b->len >= limit) {
			err = too_large(b->what, limit - 1);
			break;
		}
		pos += v;
		blocks++;
	}
	b->limit = limit;
	b->used = pos;
	if (err)
		return err;
	if (!blocks)
		return stream_error(b, true, NULL);
	return 0;
}

/* The lz4 frame format (lz4 without -l): one frame, checksums checked. */
static int dec_lz4f(const uint8_t *in, size_t len, struct obuf *b)
{
	LZ4F_dctx *dctx;
	size_t pos = 0;
	int err = 0;

	if (LZ4F_isError(LZ4F_createDecompressionContext(&dctx, LZ4F_VERSION))) {
		log_err("%s: cannot create an lz4 decompression context", b->what);
		return -ENOMEM;
	}
	for (;;) {
		size_t room = obuf_room(b, 1, &err), dst = room, src = len - pos, ret;

		if (!room)
			break;
		ret = LZ4F_decompress(dctx, b->p + b->len, &dst, in + pos, &src, NULL);
		pos += src;
		b->len += dst;
		if (LZ4F_isError(ret)) {
			err = stream_error(b, false, LZ4F_getErrorName(ret));
			break;
		}
		if (ret == 0)
			break;
		if (pos == len && dst < room) {
			err = stream_error(b, true, NULL);
			break;
		}
	}
	b->used = pos;
	LZ4F_freeDecompressionContext(dctx);
	return err;
}

static int dec_copy(const uint8_t *in, size_t len, struct obuf *b)
{
	if (len >= b->limit) {
		log_err("uncompressed payload is larger than %zu bytes: refused", b->limit - 1);
		return -EFBIG;
	}
	b->p = malloc(len ? len : 1);
	if (!b->p) {
		log_err("uncompressed payload: out of memory for %zu bytes", len);
		return -ENOMEM;
	}
	memcpy(b->p, in, len);
	b->len = b->cap = len;
	b->used = len;
	return 0;
}

/* Runs the decoder for fmt over in[0, len) into b (limit set). */
static int run(enum decompress_format fmt, const uint8_t *in, size_t len, struct obuf *b)
{
	switch (fmt) {
	case DECOMPRESS_NONE: return dec_copy(in, len, b);
	case DECOMPRESS_GZIP: return dec_gzip(in, len, b);
	case DECOMPRESS_XZ: return dec_lzma(in, len, b, false);
	case DECOMPRESS_LZMA: return dec_lzma(in, len, b, true);
	case DECOMPRESS_ZSTD: return dec_zstd(in, len, b);
	case DECOMPRESS_BZIP2: return dec_bzip2(in, len, b);
	case DECOMPRESS_LZ4: return dec_lz4(in, len, b);
	case DECOMPRESS_LZ4F: return dec_lz4f(in, len, b);
	case DECOMPRESS_LZO:
		log_err("%s: no host decompressor for lzo "
			"(--no-host-decompress lets the kernel decompress it)", b->what);
		return -ENOTSUP;
	default:
		log_err("%s: format not recognised (magic %02x %02x %02x %02x)", b->what,
			len > 0 ? in[0] : 0, len > 1 ? in[1] : 0, len > 2 ? in[2] : 0,
			len > 3 ? in[3] : 0);
		return -EINVAL;
	}
}

/* Room for lz4's block slack without overflow; no output gets near. */
static size_t clamp_max(size_t max_out)
{
	return max_out > SIZE_MAX / 2 ? SIZE_MAX / 2 : max_out;
}

int decompress(const uint8_t *in, size_t len, uint8_t **out, size_t *out_len,
	       size_t max_out, char *fmt_name, size_t fmt_len)
{
	enum decompress_format fmt = decompress_detect(in, len);
	char what[32];
	struct obuf b = { .name = decompress_format_name(fmt), .what = what };
	int err;

	snprintf(what, sizeof(what), "%s payload",
		 fmt == DECOMPRESS_UNKNOWN ? "kernel" : b.name);
	if (fmt_name && fmt_len)
		snprintf(fmt_name, fmt_len, "%s", b.name);
	max_out = clamp_max(max_out);
	b.limit = max_out + 1;
	err = run(fmt, in, len, &b);
	if (!err && b.len > max_out)
		err = too_large(b.what, max_out);
	if (!err && b.len == 0) {
		log_err("%s decompresses to nothing", b.what);
		err = -EINVAL;
	}
	if (err) {
		free(b.p);
		return err;
	}
	*out = b.p;
	*out_len = b.len;
	return 0;
}

int decompress_member(const uint8_t *in, size_t len, uint8_t **out, size_t *out_len,
		      size_t max_out, size_t *used, const char *what)
{
	enum decompress_format fmt = decompress_detect(in, len);
	struct obuf b = { .name = decompress_format_name(fmt), .what = what };
	int err;

	max_out = clamp_max(max_out);
	b.limit = max_out + 1;
	err = fmt == DECOMPRESS_NONE ? -EINVAL : run(fmt, in, len, &b);
	if (fmt == DECOMPRESS_NONE)
		log_err("%s: an ELF file is not a compressed stream", what);
	if (!err && b.len > max_out)
		err = too_large(b.what, max_out);
	if (err) {
		free(b.p);
		return err;
	}
	*out = b.p;
	*out_len = b.len;
	*used = b.used;
	return 0;
}
