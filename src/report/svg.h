/* SPDX-License-Identifier: MIT */
/* Small helpers for the SVG pictures (compare, timeline). */
#ifndef MINIVMM_SVG_H
#define MINIVMM_SVG_H

#include <stdio.h>

/* Text as XML character data or attribute value. */
void svg_text(FILE *out, const char *s);
/* A round axis step (1, 2 or 5 times a power of ten) giving at most 6 ticks. */
double svg_step(double max);

#endif
