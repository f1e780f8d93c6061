/* SPDX-License-Identifier: MIT */
/*
 * Test-guest runtime: IDT set-up (from ring 3), exit, exception reports and
 * the polled COM1 console.  Everything here runs in ring 3.
 */
#include "guest.h"

_Static_assert(GUEST_TSS_RSP0 == BOARD_BOOT_TSS + 4, "TSS.RSP0 address");

/* 16550 registers (offsets from BOARD_COM1_BASE), see src/devices/uart.h. */
#define COM1_THR (BOARD_COM1_BASE + 0)
#define COM1_LSR (BOARD_COM1_BASE + 5)
#define LSR_THRE 0x20

struct idt_gate {
	uint16_t off_lo;
	uint16_t sel;
	uint8_t ist;
	uint8_t type;		/* P | DPL | type */
	uint16_t off_mid;
	uint32_t off_hi;
	uint32_t reserved;
};

#define GATE_INTERRUPT_DPL0 0x8E

/* Loaded by _start (start.S) while still empty: filled before anything in
 * ring 3 can fault. */
struct idt_gate idt[GUEST_NR_VECTORS] __attribute__((aligned(16)));
extern const char isr_stubs[];

static void idt_init(void)
{
	for (unsigned int v = 0; v < GUEST_NR_VECTORS; v++) {
		uint64_t h = (uint64_t)isr_stubs + v * GUEST_STUB_SIZE;

		idt[v] = (struct idt_gate){
			.off_lo = (uint16_t)h,
			.sel = BOARD_SEL_KCODE,
			.type = GATE_INTERRUPT_DPL0,
			.off_mid = (uint16_t)(h >> 16),
			.off_hi = (uint32_t)(h >> 32),
		};
	}
}

int guest_start(const void *fdt);
int guest_start(const void *fdt)
{
	idt_init();
	return main(fdt);
}

void guest_exit(int status)
{
	outb(BOARD_DEBUG_EXIT_PORT, (uint8_t)status);
	for (;;)	/* minivmm stops at the write; never reached */
		__asm__ volatile("pause");
}

static bool console_at_bol = true;	/* last byte sent was '\n' */

static const char *const exc_names[32] = {
	"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM",
	"#DF", "#09", "#TS", "#NP", "#SS", "#GP", "#PF", "#15",
	"#MF", "#AC", "#MC", "#XM", "#VE", "#CP", "#22", "#23",
	"#24", "#25", "#26", "#27", "#HV", "#VC", "#SX", "#31",
};

/* Reached by iretq from exc_common (start.S), on the report stack. */
__attribute__((noreturn)) void guest_exception_report(uint64_t vec,
	uint64_t err, uint64_t rip, uint64_t cs, uint64_t cr2);
void guest_exception_report(uint64_t vec, uint64_t err, uint64_t rip,
			    uint64_t cs, uint64_t cr2)
{
	if (!console_at_bol)
		putstr("\n");
	printf("guest: exception %lu (error 0x%lx) at RIP 0x%lx [%s in ring %lu",
	       vec, err, rip, vec < 32 ? exc_names[vec] : "?", cs & 3);
	if (vec == 14)
		printf(", CR2 0x%lx", cr2);
	printf("]\n");
	guest_exit(GUEST_EXIT_EXCEPTION);
}

/* ---- console -------------------------------------------------------------- */

void putchar_raw(char c)
{
	while (!(inb(COM1_LSR) & LSR_THRE))
		;
	outb(COM1_THR, (uint8_t)c);
	console_at_bol = c == '\n';
}

static void putchar_crlf(char c)
{
	if (c == '\n')
		putchar_raw('\r');
	putchar_raw(c);
}

void putstr(const char *s)
{
	while (*s)
		putchar_crlf(*s++);
}

struct sink {
	void (*put)(struct sink *s, char c);
	char *buf;
	size_t size, len;
};

static void sink_console(struct sink *s, char c)
{
	putchar_crlf(c);
	s->len++;
}

static void sink_buffer(struct sink *s, char c)
{
	if (s->len + 1 < s->size)
		s->buf[s->len] = c;
	s->len++;
}

/* pad == '-' means left-justified (padded with spaces on the right). */
static void put_padded(struct sink *s, const char *str, size_t n,
		       unsigned int width, char pad)
{
	for (; pad != '-' && width > n; width--)
		s->put(s, pad);
	for (size_t i = 0; i < n; i++)
		s->put(s, str[i]);
	for (; pad == '-' && width > n; width--)
		s->put(s, ' ');
}

static void put_number(struct sink *s, unsigned long long v, bool negative,
		       unsigned int base, unsigned int width, char pad)
{
	char tmp[24];
	size_t n = sizeof(tmp);

	do {
		tmp[--n] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	if (negative) {
		if (pad == '0') {	/* sign before the zeros */
			s->put(s, '-');
			width = width ? width - 1 : 0;
		} else {
			tmp[--n] = '-';
		}
	}
	put_padded(s, tmp + n, sizeof(tmp) - n, width, pad);
}

static void format(struct sink *s, const char *fmt, va_list ap)
{
	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			s->put(s, *fmt);
			continue;
		}
		char pad = ' ';
		unsigned int width = 0, longs = 0;

		if (*++fmt == '0' || *fmt == '-')
			pad = *fmt++;
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (unsigned int)(*fmt++ - '0');
		while (*fmt == 'l' || *fmt == 'z') {
			longs++;
			fmt++;
		}

		unsigned long long u;
		long long d;

		switch (*fmt) {
		case 'd':
		case 'i':
			d = longs ? va_arg(ap, long long) : va_arg(ap, int);
			put_number(s, d < 0 ? -(unsigned long long)d : (unsigned long long)d,
				   d < 0, 10, width, pad);
			break;
		case 'u':
		case 'x':
			u = longs ? va_arg(ap, unsigned long long)
				  : va_arg(ap, unsigned int);
			put_number(s, u, false, *fmt == 'u' ? 10 : 16, width, pad);
			break;
		case 'p':
			s->put(s, '0');
			s->put(s, 'x');
			put_number(s, (uintptr_t)va_arg(ap, void *), false, 16,
				   width, pad);
			break;
		case 'c':
			s->put(s, (char)va_arg(ap, int));
			break;
		case 's': {
			const char *str = va_arg(ap, const char *);

			if (!str)
				str = "(null)";
			put_padded(s, str, strlen(str), width, pad == '-' ? '-' : ' ');
			break;
		}
		case '%':
			s->put(s, '%');
			break;
		case '\0':
			return;
		default:	/* unknown: show it rather than guess */
			s->put(s, '%');
			s->put(s, *fmt);
			break;
		}
	}
}

int vprintf(const char *fmt, va_list ap)
{
	struct sink s = { .put = sink_console };

	format(&s, fmt, ap);
	return (int)s.len;
}

int printf(const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vprintf(fmt, ap);
	va_end(ap);
	return n;
}

int snprintf(char *buf, size_t size, const char *fmt, ...)
{
	struct sink s = { .put = sink_buffer, .buf = buf, .size = size };
	va_list ap;

	va_start(ap, fmt);
	format(&s, fmt, ap);
	va_end(ap);
	if (size)
		buf[s.len < size ? s.len : size - 1] = '\0';
	return (int)s.len;
}

/* ---- strings (GCC may emit calls to the mem* ones) ------------------------ */

void *memset(void *d, int c, size_t n)
{
	unsigned char *p = d;

	while (n--)
		*p++ = (unsigned char)c;
	return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
	unsigned char *p = d;
	const unsigned char *q = s;

	while (n--)
		*p++ = *q++;
	return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *p = a, *q = b;

	for (; n; n--, p++, q++)
		if (*p != *q)
			return *p - *q;
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

int strncmp(const char *a, const char *b, size_t n)
{
	for (; n; n--, a++, b++) {
		if (*a != *b)
			return (unsigned char)*a - (unsigned char)*b;
		if (!*a)
			break;
	}
	return 0;
}

int strcmp(const char *a, const char *b)
{
	return strncmp(a, b, (size_t)-1);
}
