// SPDX-License-Identifier: MIT
/* From a parsed -drive to a running backend. */
#include "backends/block/backend.h"

#include <errno.h>

#include "base/log.h"

int block_backend_open(const struct drive_config *cfg, const struct block_backend_opts *opts,
		       struct block_backend **out)
{
	struct block_image img;
	int e = image_open(cfg, &img);

	if (e)
		return e;
	if (cfg->aio == DRIVE_AIO_IO_URING) {
		e = block_uring_create(&img, opts, out);
		if (e == -ENOSYS && !cfg->aio_given) {
			log_warn("drive file=%s: using aio=threads instead", cfg->file);
			e = block_threads_create(&img, opts, out);
		}
	} else {
		e = block_threads_create(&img, opts, out);
	}
	if (e)
		image_close(&img);
	return e;
}
