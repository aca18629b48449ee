// SPDX-License-Identifier: GPL-2.0
/*
 * klpw_target - a module whose behaviour the e2e livepatches change.
 *
 * cat /proc/klpw_target prints five lines:
 *   value: 42                      klpw_value(): klpw_base + 2
 *   message: hello from klpw_target   klpw_message(): a string literal
 *   main_state: main:orig          state_show() in this file   (sympos 1)
 *   aux_state: aux:orig            state_show() in klpw_aux.c  (sympos 2)
 *   reads: N                       klpw_reads: static, +1 per read
 *   ticks: N                       klpw_ticks_show(): function-scope static
 *                                  "count", +1 per read
 *
 * klpw_base is a module parameter (writable in sysfs), so a patched
 * function that reads it must reference the module's own variable.
 *
 * Every helper is noinline and its result is used, so gcc keeps them as
 * plain named functions (no inlining, no .isra/.constprop clones).
 */
#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>

#include "klpw.h"

static int klpw_reads;
static int klpw_base = 40;
module_param(klpw_base, int, 0644);
MODULE_PARM_DESC(klpw_base, "value shown is klpw_base + 2");

static noinline int klpw_value(void)
{
	return klpw_base + 2;
}

static noinline const char *klpw_message(void)
{
	return "hello from klpw_target";
}

static noinline int state_show(struct seq_file *m)
{
	seq_printf(m, "main_state: %s\n", "main:orig");
	return 0;
}

/* a function-scope static: GCC names it count.N (the e2e count patch adds
 * another "count" above it, which shifts N) */
static noinline void klpw_ticks_show(struct seq_file *m)
{
	static int count;

	seq_printf(m, "ticks: %d\n", ++count);
}

static int klpw_proc_show(struct seq_file *m, void *v)
{
	int err;

	klpw_reads++;
	seq_printf(m, "value: %d\n", klpw_value());
	seq_printf(m, "message: %s\n", klpw_message());
	err = state_show(m);
	if (!err)
		err = klpw_aux_show(m);
	seq_printf(m, "reads: %d\n", klpw_reads);
	klpw_ticks_show(m);
	return err;
}

static int __init klpw_init(void)
{
	if (!proc_create_single("klpw_target", 0444, NULL, klpw_proc_show))
		return -ENOMEM;
	pr_info("klpw_target: ready\n");
	return 0;
}

static void __exit klpw_exit(void)
{
	remove_proc_entry("klpw_target", NULL);
}

module_init(klpw_init);
module_exit(klpw_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("klpwrite e2e livepatch target");
