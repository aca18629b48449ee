// SPDX-License-Identifier: GPL-2.0
/* Modelled on fs/proc/cmdline.c (Linux 6.1), freestanding. PATCHED:
 * cmdline_proc_show prints an extra string after the command line. */
struct seq_file;
struct proc_dir_entry;

extern char *saved_command_line;	/* init/main.c, not exported */
void seq_puts(struct seq_file *m, const char *s);
void seq_putc(struct seq_file *m, char c);
struct proc_dir_entry *proc_create_single_data(const char *name,
		unsigned short mode, struct proc_dir_entry *parent,
		int (*show)(struct seq_file *, void *), void *data);

#define __init __attribute__((section(".init.text"), cold))
typedef int (*initcall_t)(void);

static int cmdline_proc_show(struct seq_file *m, void *v)
{
	seq_puts(m, saved_command_line);
	seq_puts(m, " livepatch=cmdline");
	seq_putc(m, '\n');
	return 0;
}

static int __init proc_cmdline_init(void)
{
	proc_create_single_data("cmdline", 0, 0, cmdline_proc_show, 0);
	return 0;
}

/* fs_initcall(proc_cmdline_init); */
static initcall_t __initcall_proc_cmdline_init5
	__attribute__((used, section(".initcall5.init"))) = proc_cmdline_init;
