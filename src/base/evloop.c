// SPDX-License-Identifier: MIT
#include "base/evloop.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "base/log.h"
#include "base/sandbox.h"

#define EVLOOP_BATCH 32

struct evloop_handler {
	struct evloop_handler *next;
	evloop_fn fn;
	void *ctx;
};

struct evloop_pollset {
	struct pollfd *fds;        /* [0]: the epoll descriptor */
	unsigned int n, cap;
};

struct evloop {
	int epfd;
	int stop_fd;              /* eventfd: evloop_stop */
	pthread_t thread;
	bool started;
	pthread_mutex_t lock;     /* the handler list */
	struct evloop_handler *handlers;
	atomic_uint_fast64_t dispatched;
	struct evloop_poller *pollers;
	unsigned int nr_pollers;
	struct evloop_pollset ps;
};

int evloop_pollset_add(struct evloop_pollset *ps, int fd, short events)
{
	if (ps->n == ps->cap) {
		unsigned int cap = ps->cap ? 2 * ps->cap : 16;
		struct pollfd *fds = realloc(ps->fds, cap * sizeof(*fds));

		if (!fds)
			return -1;
		ps->fds = fds;
		ps->cap = cap;
	}
	ps->fds[ps->n] = (struct pollfd){ .fd = fd, .events = events };
	return (int)ps->n++;
}

short evloop_pollset_revents(const struct evloop_pollset *ps, int idx)
{
	return idx > 0 && (unsigned int)idx < ps->n ? ps->fds[idx].revents : 0;
}

int evloop_add_poller(struct evloop *l, const struct evloop_poller *p)
{
	struct evloop_poller *v = realloc(l->pollers, (l->nr_pollers + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	v[l->nr_pollers++] = *p;
	l->pollers = v;
	return 0;
}

/* The loop whose thread this is (NULL on other threads). */
static __thread const struct evloop *this_thread_loop;

bool evloop_in_thread(const struct evloop *l)
{
	return l && this_thread_loop == l;
}

int evloop_create(struct evloop **out)
{
	struct evloop *l = calloc(1, sizeof(*l));
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	int err;

	if (!l)
		return -ENOMEM;
	l->stop_fd = -1;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0)
		goto fail;
	l->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (l->stop_fd < 0 || epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->stop_fd, &ev) < 0)
		goto fail;
	pthread_mutex_init(&l->lock, NULL);
	*out = l;
	return 0;
fail:
	err = -errno;
	if (l->stop_fd >= 0)
		close(l->stop_fd);
	if (l->epfd >= 0)
		close(l->epfd);
	free(l);
	return err;
}

int evloop_add(struct evloop *l, int fd, evloop_fn fn, void *ctx)
{
	struct evloop_handler *h = calloc(1, sizeof(*h));
	struct epoll_event ev = { .events = EPOLLIN };

	if (!h)
		return -ENOMEM;
	if (fd < 0 || !fn) {
		free(h);
		return -EINVAL;
	}
	h->fn = fn;
	h->ctx = ctx;
	ev.data.ptr = h;
	pthread_mutex_lock(&l->lock);
	h->next = l->handlers;
	l->handlers = h;
	pthread_mutex_unlock(&l->lock);
	/* Added to the list first: the loop may fire as soon as it is in. */
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int err = -errno;

		/* The handler stays on the list (freed at destroy), unreachable. */
		log_err("evloop: cannot watch fd %d: %s", fd, strerror(errno));
		return err;
	}
	return 0;
}

/* With pollers: one poll(2) over the epoll descriptor and theirs. */
static int poll_pollers(struct evloop *l)
{
	struct evloop_pollset *ps = &l->ps;
	int timeout = -1, n;

	ps->n = 0;
	if (evloop_pollset_add(ps, l->epfd, POLLIN) < 0)
		return -ENOMEM;
	for (unsigned int i = 0; i < l->nr_pollers; i++) {
		int t = -1;

		l->pollers[i].fill(l->pollers[i].ctx, ps, &t);
		if (t >= 0 && (timeout < 0 || t < timeout))
			timeout = t;
	}
	n = poll(ps->fds, ps->n, timeout);
	if (n < 0 && errno != EINTR)
		return -errno;
	if (n < 0)
		for (unsigned int i = 0; i < ps->n; i++)
			ps->fds[i].revents = 0;
	for (unsigned int i = 0; i < l->nr_pollers; i++)
		l->pollers[i].dispatch(l->pollers[i].ctx, ps);
	return 0;
}

static void *evloop_thread(void *arg)
{
	struct evloop *l = arg;

	this_thread_loop = l;
	sandbox_enter(SANDBOX_IO);	/* a failure is logged; it cannot happen once prepared */
	for (;;) {
		struct epoll_event evs[EVLOOP_BATCH];
		int n;

		if (l->nr_pollers) {
			int err = poll_pollers(l);

			if (err) {
				log_err("evloop: poll: %s", strerror(-err));
				return NULL;
			}
			if (!(l->ps.fds[0].revents & POLLIN))
				continue;
		}
		n = epoll_wait(l->epfd, evs, EVLOOP_BATCH, l->nr_pollers ? 0 : -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_err("evloop: epoll_wait: %s", strerror(errno));
			return NULL;
		}
		for (int i = 0; i < n; i++) {
			struct evloop_handler *h = evs[i].data.ptr;

			if (!h)
				return NULL;   /* stop_fd: stop before running more */
			h->fn(h->ctx);
			atomic_fetch_add_explicit(&l->dispatched, 1, memory_order_relaxed);
		}
	}
}

int evloop_start(struct evloop *l, const char *name)
{
	int err = pthread_create(&l->thread, NULL, evloop_thread, l);

	if (err) {
		log_err("evloop: cannot start the I/O thread: %s", strerror(err));
		return -err;
	}
	if (name)
		pthread_setname_np(l->thread, name);
	l->started = true;
	return 0;
}

void evloop_stop(struct evloop *l)
{
	uint64_t one = 1;

	if (!l || !l->started)
		return;
	if (write(l->stop_fd, &one, sizeof(one)) < 0)
		log_warn("evloop: stop: %s", strerror(errno));
	pthread_join(l->thread, NULL);
	/* Consume the stop request, so the loop can be started again (a
	 * snapshot stops the I/O thread while it saves). */
	if (read(l->stop_fd, &one, sizeof(one)) < 0)
		log_warn("evloop: stop: %s", strerror(errno));
	l->started = false;
}

uint64_t evloop_dispatched(const struct evloop *l)
{
	return l ? atomic_load_explicit(&l->dispatched, memory_order_relaxed) : 0;
}

void evloop_destroy(struct evloop *l)
{
	if (!l)
		return;
	evloop_stop(l);
	while (l->handlers) {
		struct evloop_handler *h = l->handlers;

		l->handlers = h->next;
		free(h);
	}
	free(l->pollers);
	free(l->ps.fds);
	pthread_mutex_destroy(&l->lock);
	close(l->stop_fd);
	close(l->epfd);
	free(l);
}
