// SPDX-License-Identifier: GPL-2.0
/*
 * klpwrite e2e (tests/e2e/lto.sh), klpw_ltomod unit y/ltomod_s.c:
 * /proc/klpw_ltomod/y_state.  x/ltomod_s.c and y/ltomod_s.c are the same
 * file but for their names: STT_FILE holds only the base name, so the
 * pre-link object and the module have two units "ltomod_s.c", each with a
 * static tag and a static state_show() of the same bytes.  The tag comes
 * from the caller, in unit A, so that no compiler can see its value here.
 */
#include <linux/init.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include "../ltomod.h"

static const char *tag;

static int state_show(struct seq_file *m, void *v)
{
	seq_printf(m, "%s state\n", tag);
	return 0;
}

noinline void __init ltomod_y_register(struct proc_dir_entry *dir, const char *t)
{
	tag = t;
	proc_create_single("y_state", 0444, dir, state_show);
}
