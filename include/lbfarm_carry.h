/* Licensed under the Apache License, Version 2.0 (see LICENSE). */

/*
 * lbfarm_carry.h -- what a graceful restart hands from the old segment to
 * the new one (lbfarm_carry.c; pure C).  What is kept and what is not:
 * lbfarm_shm.h, "What a graceful restart keeps".  Nothing of the old
 * segment is used before lbf_shm_check has passed it.
 */
#ifndef LBFARM_CARRY_H
#define LBFARM_CARRY_H

#include "lbfarm_shm.h"

/* Copy what survives a graceful restart from src into dst, matching
 * farms and members by name; rebuilds the schedules it touched.  src is
 * checked first (lbf_shm_check) and not used at all when it fails.
 * Returns the number of members carried over, or the check's refusal
 * (< 0; dst unchanged).  Config time: dst is not shared yet; src must not
 * change meanwhile (lbf_shm_carry_region copes with a src that may).
 * Takes dst's farm locks (runtime members, rebuilds). */
int lbf_shm_carry(struct lbf_shm *dst, const struct lbf_shm *src);

/* As lbf_shm_carry from the old segment [base, base + len), which the old
 * generation's children may still be writing -- or may have damaged: takes
 * a private copy first, then checks and carries from the copy alone.  On a
 * refusal (< 0) why holds one line saying why (as lbf_shm_check) and dst
 * keeps its fresh state.  Config time; allocates len bytes for the copy
 * (LBF_ENOSPACE when it cannot). */
int lbf_shm_carry_region(struct lbf_shm *dst, const void *base, size_t len,
                         char *why, size_t why_len);

#endif /* LBFARM_CARRY_H */
