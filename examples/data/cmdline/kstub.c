/*
 * kstub.c - stand-ins for the kernel symbols cmdline.c uses, so that the
 * linked vmlinux.syms has them at kernel-like addresses. Compiled without -pg.
 */
struct seq_file;
struct proc_dir_entry;

char *saved_command_line;		/* init/main.c: global, NOT exported */
unsigned int saved_command_line_len;

void __fentry__(void)
{
}

int printk(const char *fmt, ...)
{
	return fmt[0];
}

void seq_puts(struct seq_file *m, const char *s)
{
	__asm__ volatile("" : : "r"(m), "r"(s) : "memory");
}

void seq_putc(struct seq_file *m, char c)
{
	__asm__ volatile("" : : "r"(m), "r"(c) : "memory");
}

void seq_printf(struct seq_file *m, const char *f, ...)
{
	__asm__ volatile("" : : "r"(m), "r"(f) : "memory");
}

struct proc_dir_entry *proc_create_single_data(const char *name,
		unsigned short mode, struct proc_dir_entry *parent,
		int (*show)(struct seq_file *, void *), void *data)
{
	return parent;
}
