// SPDX-License-Identifier: GPL-2.0
/*
 * klpwrite e2e (tests/e2e/lto), unit C: /proc/klpw_lto_c.  With ThinLTO,
 * klpw_lto_value() of unit A is inlined here.
 *
 * s_show (/proc/klpw_lto_dup) is a name vmlinux has several of (also in
 * kernel/kallsyms.c, kernel/trace/trace.c, mm/vmalloc.c): the livepatch
 * needs its sympos, which the final vmlinux decides, not vmlinux.o.
 */
#include <linux/init.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include "klpw_lto.h"

static int klpw_lto_c_show(struct seq_file *m, void *v)
{
	seq_printf(m, "c value=%d\n", klpw_lto_value());
	return 0;
}

static int s_show(struct seq_file *m, void *v)
{
	seq_puts(m, "dup s_show\n");
	return 0;
}

static int __init klpw_lto_c_init(void)
{
	proc_create_single("klpw_lto_c", 0444, NULL, klpw_lto_c_show);
	proc_create_single("klpw_lto_dup", 0444, NULL, s_show);
	return 0;
}
device_initcall(klpw_lto_c_init);
