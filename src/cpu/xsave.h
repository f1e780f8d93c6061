/* SPDX-License-Identifier: MIT */
/*
 * XSAVE and XRSTOR (standard form) on a buffer: the architectural rules of
 * Intel SDM vol. 1 ch. 13, applied between the guest's XSAVE area and the
 * vCPU's extended state as KVM_GET_XSAVE/KVM_SET_XSAVE hand it over (the
 * same standard layout: legacy region, header at 512, component i at the
 * offset CPUID.(EAX=0DH,ECX=i).EBX gives).  No KVM and no guest memory
 * here, so every rule is unit-tested; vcpu_emulate.c moves the bytes.
 */
#ifndef MINIVMM_XSAVE_H
#define MINIVMM_XSAVE_H

#include <stddef.h>
#include <stdint.h>

#define XSAVE_COMPONENTS 19 /* x87 .. AMX tile data */
#define XSAVE_HEADER 512    /* XSTATE_BV at 512, XCOMP_BV at 520, 64 bytes */
#define XSAVE_LEGACY_END 576

struct xsave_layout {
	uint64_t known; /* components with an offset and size (0 and 1 always) */
	uint32_t offset[XSAVE_COMPONENTS], size[XSAVE_COMPONENTS];
};

/* The standard-form layout this CPU uses (CPUID leaf 0DH): KVM's uabi
 * XSAVE buffer follows the host's offsets. */
void xsave_layout_host(struct xsave_layout *l);

/* Bytes from the start of the area that XSAVE/XRSTOR touch for rfbm. */
size_t xsave_extent(const struct xsave_layout *l, uint64_t rfbm);

/*
 * XSAVE (and XSAVEOPT, which may write less but never differently): store
 * the components in rfbm (XCR0 & EDX:EAX) from state into area (extent
 * bytes, read first so untouched bytes stay) and update XSTATE_BV's rfbm
 * bits; the rest of the header and the legacy region's bytes 416-511 are
 * left alone.
 */
void xsave_store(const struct xsave_layout *l, const uint8_t *state, uint64_t rfbm,
		 uint8_t *area);

enum xrstor_result {
	XRSTOR_OK,
	XRSTOR_GP,        /* #GP(0): bad header, reserved MXCSR bit */
	XRSTOR_COMPACTED, /* XCOMP_BV[63]: the compacted form (XSAVEC/XSAVES) */
};

/*
 * XRSTOR (standard form): for each component in rfbm, load it from area
 * when XSTATE_BV has it, else put it in its initial configuration; MXCSR
 * is loaded when rfbm has SSE or AVX.  state is changed only on XRSTOR_OK.
 */
enum xrstor_result xsave_load(const struct xsave_layout *l, uint8_t *state, uint64_t rfbm,
			      uint64_t xcr0, const uint8_t *area);

#endif
