// SPDX-License-Identifier: MIT
/*
 * Pausing and resuming vCPU threads (vcpu_pause.h).  The request flag is
 * set before a vCPU is kicked, and a vCPU clears its immediate_exit only
 * before it looks at the flag again (vcpu.c), so no request is lost between
 * the check and KVM_RUN.
 */
#include "cpu/vcpu_pause.h"

#include "cpu/vcpu.h"

int vcpu_pause_init(struct vcpu_pause *p, bool start_paused)
{
	int err = pthread_mutex_init(&p->lock, NULL);

	if (err)
		return -err;
	err = pthread_cond_init(&p->changed, NULL);
	if (err) {
		pthread_mutex_destroy(&p->lock);
		return -err;
	}
	atomic_init(&p->requested, start_paused);
	p->alive = p->parked = 0;
	p->resumes = 0;
	return 0;
}

void vcpu_pause_destroy(struct vcpu_pause *p)
{
	pthread_cond_destroy(&p->changed);
	pthread_mutex_destroy(&p->lock);
}

void vcpu_pause_request(struct vcpu_pause *p, struct vcpu *vcpus, unsigned int n)
{
	atomic_store(&p->requested, true);
	for (unsigned int i = 0; i < n; i++)
		vcpu_kick(&vcpus[i]);
}

void vcpu_pause_all(struct vcpu_pause *p, struct vcpu *vcpus, unsigned int n)
{
	vcpu_pause_request(p, vcpus, n);
	pthread_mutex_lock(&p->lock);
	while (p->parked < p->alive)
		pthread_cond_wait(&p->changed, &p->lock);
	pthread_mutex_unlock(&p->lock);
}

void vcpu_resume_all(struct vcpu_pause *p)
{
	pthread_mutex_lock(&p->lock);
	atomic_store(&p->requested, false);
	p->resumes++;
	pthread_cond_broadcast(&p->changed);
	pthread_mutex_unlock(&p->lock);
}

void vcpu_pause_hold(struct vcpu_pause *p, struct vcpu *vcpu, bool held)
{
	pthread_mutex_lock(&p->lock);
	atomic_store(&vcpu->held, held);
	pthread_cond_broadcast(&p->changed);
	pthread_mutex_unlock(&p->lock);
}

void vcpu_pause_wake(struct vcpu_pause *p)
{
	pthread_mutex_lock(&p->lock);
	pthread_cond_broadcast(&p->changed);
	pthread_mutex_unlock(&p->lock);
}

bool vcpu_pause_requested(struct vcpu_pause *p)
{
	return atomic_load(&p->requested);
}

void vcpu_pause_enter(struct vcpu_pause *p)
{
	pthread_mutex_lock(&p->lock);
	p->alive++;
	pthread_mutex_unlock(&p->lock);
}

void vcpu_pause_leave(struct vcpu_pause *p)
{
	pthread_mutex_lock(&p->lock);
	p->alive--;
	pthread_cond_broadcast(&p->changed);
	pthread_mutex_unlock(&p->lock);
}

bool vcpu_should_park(struct vcpu_pause *p, const struct vcpu *vcpu)
{
	return atomic_load(&p->requested) || atomic_load(&vcpu->held);
}

void vcpu_park(struct vcpu_pause *p, struct vcpu *vcpu, atomic_bool *stopping)
{
	pthread_mutex_lock(&p->lock);
	p->parked++;
	pthread_cond_broadcast(&p->changed);
	while (vcpu_should_park(p, vcpu) && !atomic_load(stopping))
		pthread_cond_wait(&p->changed, &p->lock);
	p->parked--;
	pthread_mutex_unlock(&p->lock);
}
