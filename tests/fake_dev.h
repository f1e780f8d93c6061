/* SPDX-License-Identifier: MIT */
/*
 * A fake bus device for unit tests: records every access and serves reads
 * from a byte pattern.  Include after <cmocka.h> and "bus.h".
 */
#ifndef MINIVMM_TESTS_FAKE_DEV_H
#define MINIVMM_TESTS_FAKE_DEV_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define FAKE_MAX_CALLS 64

struct fake_dev {
	struct device dev;
	unsigned int nr_calls;
	struct {
		bool is_write;
		uint64_t offset;
		uint32_t len;
		uint8_t data[8];
	} calls[FAKE_MAX_CALLS];
	/* Read bytes: pattern + offset + i, or with `sequential` pattern,
	 * pattern + 1, ... across all reads (so repeated reads differ). */
	uint8_t pattern;
	bool sequential;
};

static inline void fake_record(struct fake_dev *f, bool is_write, uint64_t offset,
			       const void *data, uint32_t len)
{
	assert_true(f->nr_calls < FAKE_MAX_CALLS);
	assert_true(len >= 1 && len <= 8);
	f->calls[f->nr_calls].is_write = is_write;
	f->calls[f->nr_calls].offset = offset;
	f->calls[f->nr_calls].len = len;
	memcpy(f->calls[f->nr_calls].data, data, len);
	f->nr_calls++;
}

static inline void fake_read(struct device *dev, uint64_t offset, void *data, uint32_t len)
{
	struct fake_dev *f = container_of(dev, struct fake_dev, dev);
	uint8_t *b = data;

	for (uint32_t i = 0; i < len; i++)
		b[i] = f->sequential ? f->pattern++ : (uint8_t)(f->pattern + offset + i);
	fake_record(f, false, offset, data, len);
}

static inline void fake_write(struct device *dev, uint64_t offset, const void *data,
			      uint32_t len)
{
	fake_record(container_of(dev, struct fake_dev, dev), true, offset, data, len);
}

static inline void fake_init(struct fake_dev *f, const struct device_ops *ops,
			     const char *name, uint8_t pattern, bool sequential)
{
	memset(f, 0, sizeof(*f));
	f->dev.ops = ops;
	f->dev.name = name;
	f->pattern = pattern;
	f->sequential = sequential;
}

#endif
