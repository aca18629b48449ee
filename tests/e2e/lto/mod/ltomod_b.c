// SPDX-License-Identifier: GPL-2.0
/*
 * klpwrite e2e (tests/e2e/lto.sh), klpw_ltomod unit B: /proc/klpw_ltomod/b.
 * With ThinLTO, ltomod_value() and ltomod_wrap() of unit A are inlined here,
 * and the call goes straight to A's promoted ltomod_secret.llvm.<hash>.
 * The register function is noinline, so that ThinLTO does not import it
 * into A (which would promote ltomod_b_show).
 */
#include <linux/init.h>
#include <linux/compiler.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include "ltomod.h"

static int ltomod_b_show(struct seq_file *m, void *v)
{
	seq_printf(m, "b value=%d secret=%d\n", ltomod_value(),
		   ltomod_wrap(READ_ONCE(ltomod_seed)));
	return 0;
}

noinline void __init ltomod_b_register(struct proc_dir_entry *dir)
{
	proc_create_single("b", 0444, dir, ltomod_b_show);
}
