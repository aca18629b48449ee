// SPDX-License-Identifier: GPL-2.0
/*
 * klpwrite e2e (tests/e2e/lto), unit C: /proc/klpw_lto_c.  With ThinLTO,
 * klpw_lto_value() of unit A is inlined here.
 *
 * c_stop (/proc/klpw_lto_dup) is a name vmlinux has three of (also in
 * arch/x86/kernel/cpu/proc.c, linked before this unit, and
 * fs/proc/consoles.c, after it): the livepatch needs its sympos, which the
 * final vmlinux decides, not vmlinux.o. Being hot, it goes to
 * .text.hot.c_stop, which the final link puts first (TEXT_TEXT): 2nd of 3
 * in vmlinux.o's symbol table, 1st by address.
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

static __attribute__((hot)) int c_stop(struct seq_file *m, void *v)
{
	seq_puts(m, "dup c_stop\n");
	return 0;
}

static int __init klpw_lto_c_init(void)
{
	proc_create_single("klpw_lto_c", 0444, NULL, klpw_lto_c_show);
	proc_create_single("klpw_lto_dup", 0444, NULL, c_stop);
	return 0;
}
device_initcall(klpw_lto_c_init);
