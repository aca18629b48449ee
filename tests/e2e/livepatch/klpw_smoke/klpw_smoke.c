// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * klpw_smoke - a livepatch written by hand in C and built by kbuild, in the
 * style of the kernel's samples/livepatch/livepatch-sample.c.  It exercises
 * the same kernel paths the klpwrite-made modules will, without klpwrite:
 *
 *   vmlinux      cmdline_proc_show()   /proc/cmdline shows SMOKE_CMDLINE
 *   vmlinux      s_show(), old_sympos 4: the mm/vmalloc.c copy (the name
 *                is also in mce/severity.c, kallsyms.c and trace.c);
 *                /proc/vmallocinfo shows SMOKE_VMALLOC once per area
 *   klpw_target  klpw_value()          1042
 *   klpw_target  klpw_message()        SMOKE_MESSAGE
 *   klpw_target  state_show(), old_sympos 2: the klpw_aux.c copy
 *
 * The replacement functions are self-contained: a hand-written livepatch
 * cannot reach the target's static data without klp relocations.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kernel.h>
#include <linux/livepatch.h>
#include <linux/module.h>
#include <linux/seq_file.h>
#include <linux/version.h>

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 12, 0)
/*
 * 6.12: mm/vmalloc.c's s_show is vmalloc_info_show, a unique name; the
 * vmlinux duplicate is fs/namespace.c's m_show, 2nd of 2 (the 1st is
 * kernel/module/procfs.c's): /proc/mounts shows SMOKE_DUP once per mount
 */
#define SMOKE_DUP_NAME "m_show"
#define SMOKE_DUP_POS 2
#define SMOKE_VMALLOC "# klpw_smoke: mounts livepatched"
#else
#define SMOKE_DUP_NAME "s_show"
#define SMOKE_DUP_POS 4
#define SMOKE_VMALLOC "klpw_smoke: vmallocinfo livepatched"
#endif

#define SMOKE_CMDLINE "klpw_smoke: cmdline livepatched"
#define SMOKE_MESSAGE "hello from klpw_smoke"

static int smoke_cmdline_proc_show(struct seq_file *m, void *v)
{
	seq_printf(m, "%s\n", SMOKE_CMDLINE);
	return 0;
}

static int smoke_vmalloc_s_show(struct seq_file *m, void *p)
{
	seq_printf(m, "%s\n", SMOKE_VMALLOC);
	return 0;
}

static int smoke_klpw_value(void)
{
	return 1042;
}

static const char *smoke_klpw_message(void)
{
	return SMOKE_MESSAGE;
}

static int smoke_aux_state_show(struct seq_file *m)
{
	seq_printf(m, "aux_state: %s\n", "aux:smoke");
	return 0;
}

static struct klp_func smoke_vmlinux_funcs[] = {
	{ .old_name = "cmdline_proc_show", .new_func = smoke_cmdline_proc_show },
	{ .old_name = SMOKE_DUP_NAME, .new_func = smoke_vmalloc_s_show,
	  .old_sympos = SMOKE_DUP_POS },
	{ }
};

static struct klp_func smoke_target_funcs[] = {
	{ .old_name = "klpw_value", .new_func = smoke_klpw_value },
	{ .old_name = "klpw_message", .new_func = smoke_klpw_message },
	{ .old_name = "state_show", .new_func = smoke_aux_state_show, .old_sympos = 2 },
	{ }
};

static struct klp_object smoke_objs[] = {
	{ .name = NULL, .funcs = smoke_vmlinux_funcs },		/* vmlinux */
	{ .name = "klpw_target", .funcs = smoke_target_funcs },
	{ }
};

static struct klp_patch smoke_patch = {
	.mod = THIS_MODULE,
	.objs = smoke_objs,
};

static int __init smoke_init(void)
{
	return klp_enable_patch(&smoke_patch);
}

static void __exit smoke_exit(void)
{
}

module_init(smoke_init);
module_exit(smoke_exit);
MODULE_LICENSE("GPL");
MODULE_INFO(livepatch, "Y");
MODULE_DESCRIPTION("klpwrite e2e: hand-written smoke livepatch");
