// SPDX-License-Identifier: GPL-2.0
/*
 * klpwrite e2e (tests/e2e/lto.sh), klpw_ltomod unit A: /proc/klpw_ltomod/a
 * and /proc/klpw_ltomod/a_state; the module's init and exit.
 *
 * ltomod_value() is small enough for ThinLTO to import it into units B and
 * C (import-instr-limit=5, top Makefile) and inline it there.
 * ltomod_secret() is a static whose caller ltomod_wrap() B imports, so
 * ThinLTO promotes it to a global ltomod_secret.llvm.<hash>, a hash of
 * unit A that changes with any change of A (lto/mod.patch changes A but not
 * ltomod_secret()).  state_show() has twins in unit C, x/ltomod_s.c and
 * y/ltomod_s.c: the module has four.
 */
#include <linux/module.h>
#include <linux/init.h>
#include <linux/compiler.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include "ltomod.h"

int ltomod_seed = 7;
static struct proc_dir_entry *ltomod_dir;

int ltomod_value(void)
{
	return 42;
}

static noinline int ltomod_secret(int x)
{
	return x * 3 + 1;
}

int ltomod_wrap(int x)
{
	return ltomod_secret(x);
}

static int ltomod_a_show(struct seq_file *m, void *v)
{
	seq_printf(m, "a value=%d secret=%d\n", ltomod_value(),
		   ltomod_secret(READ_ONCE(ltomod_seed)));
	return 0;
}

static int state_show(struct seq_file *m, void *v)
{
	seq_puts(m, "a state\n");
	return 0;
}

static int __init ltomod_init(void)
{
	ltomod_dir = proc_mkdir("klpw_ltomod", NULL);
	if (!ltomod_dir)
		return -ENOMEM;
	proc_create_single("a", 0444, ltomod_dir, ltomod_a_show);
	proc_create_single("a_state", 0444, ltomod_dir, state_show);
	ltomod_b_register(ltomod_dir);
	ltomod_c_register(ltomod_dir);
	ltomod_x_register(ltomod_dir, "x");
	ltomod_y_register(ltomod_dir, "y");
	return 0;
}

static void __exit ltomod_exit(void)
{
	proc_remove(ltomod_dir);
}

module_init(ltomod_init);
module_exit(ltomod_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("klpwrite e2e: tests/e2e/lto.sh's target module");
