// SPDX-License-Identifier: GPL-2.0
/*
 * klpwrite e2e (tests/e2e/lto.sh), klpw_ltomod unit C: /proc/klpw_ltomod/c
 * and /proc/klpw_ltomod/c_state.  With ThinLTO, ltomod_value() of unit A
 * is inlined here.  state_show() has twins in units A, x and y: the
 * livepatch names this one by its position among the module's symbols of
 * that name.
 * The register function is noinline, so that ThinLTO does not import it
 * into A (which would promote both statics of this unit).
 */
#include <linux/init.h>
#include <linux/compiler.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include "ltomod.h"

static int ltomod_c_show(struct seq_file *m, void *v)
{
	seq_printf(m, "c value=%d\n", ltomod_value());
	return 0;
}

static int state_show(struct seq_file *m, void *v)
{
	seq_puts(m, "c state\n");
	return 0;
}

noinline void __init ltomod_c_register(struct proc_dir_entry *dir)
{
	proc_create_single("c", 0444, dir, ltomod_c_show);
	proc_create_single("c_state", 0444, dir, state_show);
}
