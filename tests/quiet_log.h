/* SPDX-License-Identifier: MIT */
/* A cmocka group set-up/tear-down pair that keeps the warnings tests
 * provoke on purpose out of the test output (quiet_log: /dev/null). */
#ifndef MINIVMM_TESTS_QUIET_LOG_H
#define MINIVMM_TESTS_QUIET_LOG_H

#include <stdio.h>

#include "base/log.h"

static FILE *quiet_log;

static inline int quiet_log_setup(void **state)
{
	(void)state;
	quiet_log = fopen("/dev/null", "w");
	log_set_sink(quiet_log);
	return 0;
}

static inline int quiet_log_teardown(void **state)
{
	(void)state;
	log_set_sink(NULL);
	if (quiet_log)
		fclose(quiet_log);
	quiet_log = NULL;
	return 0;
}

#endif
