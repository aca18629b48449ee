// SPDX-License-Identifier: GPL-2.0
/* klpw_target's second file: the second static state_show() (sympos 2). */
#include <linux/seq_file.h>

#include "klpw.h"

static noinline int state_show(struct seq_file *m)
{
	seq_printf(m, "aux_state: %s\n", "aux:orig");
	return 0;
}

noinline int klpw_aux_show(struct seq_file *m)
{
	return state_show(m);
}
