// SPDX-License-Identifier: GPL-2.0
/*
 * klpwrite e2e (tests/e2e/lto), unit B: /proc/klpw_lto_b.  With ThinLTO,
 * klpw_lto_value() and klpw_lto_wrap() of unit A are inlined here, and the
 * call goes straight to A's promoted klpw_lto_secret.llvm.<hash>.
 */
#include <linux/init.h>
#include <linux/compiler.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include "klpw_lto.h"

static int klpw_lto_b_show(struct seq_file *m, void *v)
{
	seq_printf(m, "b value=%d secret=%d\n", klpw_lto_value(),
		   klpw_lto_wrap(READ_ONCE(klpw_lto_seed)));
	return 0;
}

static int __init klpw_lto_b_init(void)
{
	proc_create_single("klpw_lto_b", 0444, NULL, klpw_lto_b_show);
	return 0;
}
device_initcall(klpw_lto_b_init);
