// SPDX-License-Identifier: MIT
#include "devices/post.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct post {
	struct device dev;
	atomic_int last; /* -1: nothing written yet */
};

static struct post *to_post(struct device *dev)
{
	return container_of(dev, struct post, dev);
}

static void post_read(struct device *dev, uint64_t offset, void *data,
		      uint32_t len)
{
	int last = atomic_load_explicit(&to_post(dev)->last,
					memory_order_relaxed);

	memset(data, 0xFF, len);
	if (offset == 0 && len > 0 && last >= 0)
		*(uint8_t *)data = (uint8_t)last;
}

static void post_write(struct device *dev, uint64_t offset, const void *data,
		       uint32_t len)
{
	if (offset != 0 || len == 0)
		return;
	/* Relaxed: the code is a standalone value read only for reporting. */
	atomic_store_explicit(&to_post(dev)->last, *(const uint8_t *)data,
			      memory_order_relaxed);
}

static void post_reset(struct device *dev)
{
	atomic_store(&to_post(dev)->last, -1);
}

static void post_destroy(struct device *dev)
{
	free(to_post(dev));
}

static const struct device_ops post_ops = {
	.access_size = 1,
	.read = post_read,
	.write = post_write,
	.reset = post_reset,
	.destroy = post_destroy,
};

struct post *post_create(void)
{
	struct post *post = calloc(1, sizeof(*post));

	if (!post)
		return NULL;
	post->dev.ops = &post_ops;
	post->dev.name = "post";
	atomic_init(&post->last, -1);
	return post;
}

struct device *post_device(struct post *post)
{
	return &post->dev;
}

int post_last_code(const struct post *post)
{
	return atomic_load_explicit(&post->last, memory_order_relaxed);
}
