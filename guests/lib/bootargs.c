/* SPDX-License-Identifier: MIT */
/* key=value parameters from /chosen/bootargs (minivmm's -append). */
#include "guest.h"

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

bool bootarg_get(const char *args, const char *key, char *val, size_t len)
{
	size_t klen = strlen(key);
	const char *p = args;

	while (*p) {
		while (is_space(*p))
			p++;
		const char *word = p;

		while (*p && !is_space(*p))
			p++;
		if ((size_t)(p - word) > klen && !strncmp(word, key, klen) &&
		    word[klen] == '=') {
			const char *v = word + klen + 1;
			size_t n = (size_t)(p - v);

			if (len) {
				if (n >= len)
					n = len - 1;
				memcpy(val, v, n);
				val[n] = '\0';
			}
			return true;
		}
	}
	return false;
}

static bool parse_u64(const char *s, uint64_t *out)
{
	unsigned int base = 10;
	uint64_t v = 0;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	if (!*s)
		return false;
	for (; *s; s++) {
		unsigned int d;

		if (*s >= '0' && *s <= '9')
			d = (unsigned int)(*s - '0');
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = (unsigned int)(*s - 'a' + 10);
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			d = (unsigned int)(*s - 'A' + 10);
		else
			break;
		if (v > (UINT64_MAX - d) / base)
			return false;
		v = v * base + d;
	}

	unsigned int shift = 0;

	switch (*s) {
	case 'k': case 'K': shift = 10; s++; break;
	case 'm': case 'M': shift = 20; s++; break;
	case 'g': case 'G': shift = 30; s++; break;
	}
	if (*s || (shift && v > UINT64_MAX >> shift))
		return false;
	*out = v << shift;
	return true;
}

uint64_t bootarg_u64(const char *args, const char *key, uint64_t def)
{
	char val[32];
	uint64_t v;

	if (!bootarg_get(args, key, val, sizeof(val)))
		return def;
	if (!parse_u64(val, &v)) {
		printf("guest: bad number in bootargs: %s=%s\n", key, val);
		guest_exit(GUEST_EXIT_CONTRACT);
	}
	return v;
}
