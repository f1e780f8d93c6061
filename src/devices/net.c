// SPDX-License-Identifier: MIT
/* Helpers every network backend may need (devices/net.h). */
#include "devices/net.h"

#include <errno.h>

int net_csum_complete(uint8_t *frame, size_t len, uint16_t csum_start, uint16_t csum_offset)
{
	uint64_t sum = 0;
	size_t i = csum_start;

	if ((size_t)csum_start + csum_offset + 2 > len)
		return -EINVAL;
	/* The pseudo-header sum the guest left in the field is part of it. */
	for (; i + 1 < len; i += 2)
		sum += (uint32_t)frame[i] << 8 | frame[i + 1];
	if (i < len)
		sum += (uint32_t)frame[i] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	sum = ~sum & 0xffff;
	/* UDP: a computed 0 is sent as 0xffff (0 means "no checksum"); for
	 * TCP both are the same value in ones' complement. */
	if (sum == 0)
		sum = 0xffff;
	frame[csum_start + csum_offset] = (uint8_t)(sum >> 8);
	frame[csum_start + csum_offset + 1] = (uint8_t)sum;
	return 0;
}
