/* SPDX-License-Identifier: GPL-2.0 */
/* klpwrite e2e, tests/e2e/lto: the three units A, B, C (kernel/klpw_lto_*.c) */
#ifndef KLPW_LTO_H
#define KLPW_LTO_H
extern int klpw_lto_seed;
int klpw_lto_value(void);
int klpw_lto_wrap(int x);
#endif
