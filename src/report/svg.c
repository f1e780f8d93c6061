// SPDX-License-Identifier: MIT
#include "report/svg.h"

/* Text as XML character data or attribute value; control characters,
 * which XML 1.0 does not allow, become '?'. */
void svg_text(FILE *out, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': fputs("&amp;", out); break;
		case '<': fputs("&lt;", out); break;
		case '>': fputs("&gt;", out); break;
		case '"': fputs("&quot;", out); break;
		case '\'': fputs("&apos;", out); break;
		default:
			fputc((unsigned char)*s < 0x20 && *s != '\t' && *s != '\n' ? '?' : *s, out);
		}
	}
}

/* A round axis step (1, 2 or 5 times a power of ten) giving at most 6 ticks. */
double svg_step(double max)
{
	static const double k[] = { 1, 2, 5 };

	if (!(max > 0))
		return 1;
	for (double base = 1e-6; base < 1e15; base *= 10)
		for (unsigned int i = 0; i < 3; i++)
			if (base * k[i] * 6 >= max)
				return base * k[i];
	return max;
}
