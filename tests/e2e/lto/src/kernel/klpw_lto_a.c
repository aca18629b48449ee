// SPDX-License-Identifier: GPL-2.0
/*
 * klpwrite e2e (tests/e2e/lto), unit A: /proc/klpw_lto_a.
 *
 * klpw_lto_value() is small enough for ThinLTO to import it into units B
 * and C (import-instr-limit=5) and inline it there; klpw_lto_secret() is a
 * static whose caller klpw_lto_wrap() is imported into B, so ThinLTO
 * promotes it to a global klpw_lto_secret.llvm.<hash>.
 */
#include <linux/init.h>
#include <linux/compiler.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include "klpw_lto.h"

int klpw_lto_seed = 7;

int klpw_lto_value(void)
{
	return 42;
}

static noinline int klpw_lto_secret(int x)
{
	return x * 3 + 1;
}

int klpw_lto_wrap(int x)
{
	return klpw_lto_secret(x);
}

static int klpw_lto_a_show(struct seq_file *m, void *v)
{
	seq_printf(m, "a value=%d secret=%d\n", klpw_lto_value(),
		   klpw_lto_secret(READ_ONCE(klpw_lto_seed)));
	return 0;
}

static int __init klpw_lto_a_init(void)
{
	proc_create_single("klpw_lto_a", 0444, NULL, klpw_lto_a_show);
	return 0;
}
device_initcall(klpw_lto_a_init);
