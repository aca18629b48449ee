/* SPDX-License-Identifier: GPL-2.0 */
/* klpwrite e2e, tests/e2e/lto.sh: what the units of klpw_ltomod share */
#ifndef LTOMOD_H
#define LTOMOD_H
#include <linux/proc_fs.h>
extern int ltomod_seed;
int ltomod_value(void);
int ltomod_wrap(int x);
void ltomod_b_register(struct proc_dir_entry *dir);
void ltomod_c_register(struct proc_dir_entry *dir);
void ltomod_x_register(struct proc_dir_entry *dir, const char *tag);
void ltomod_y_register(struct proc_dir_entry *dir, const char *tag);
#endif
