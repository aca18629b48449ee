// SPDX-License-Identifier: GPL-2.0
/*
 * uaccess-probe - tiny static helper for e2e guest scripts (busybox cannot
 * do these): it makes one write(2) whose user buffer or size is unusual.
 *
 *   uaccess-probe fault FILE    write 4 bytes from an unmapped user address
 *   uaccess-probe big FILE N    write N bytes of 'x' in a single call
 *
 * Prints "ret=<n>" or "errno=<NAME>" and exits 0 unless it could not even
 * open FILE.  Used for exception-table (EFAULT, no oops) and WARN_ON checks.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void report(ssize_t r)
{
	if (r >= 0)
		printf("ret=%zd\n", r);
	else if (errno == EFAULT)
		printf("errno=EFAULT\n");
	else if (errno == EINVAL)
		printf("errno=EINVAL\n");
	else
		printf("errno=%d\n", errno);
}

int main(int argc, char **argv)
{
	int fd;

	if (argc < 3) {
		fprintf(stderr, "usage: uaccess-probe fault|big FILE [N]\n");
		return 2;
	}
	fd = open(argv[2], O_WRONLY);
	if (fd < 0) {
		perror(argv[2]);
		return 1;
	}
	if (!strcmp(argv[1], "fault")) {
		/* a page that surely is unmapped: map one, then unmap it */
		char *p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED || munmap(p, 4096))
			return 1;
		report(write(fd, p, 4));
	} else if (!strcmp(argv[1], "big") && argc > 3) {
		size_t n = strtoul(argv[3], NULL, 0);
		char *b = malloc(n);

		if (!b)
			return 1;
		memset(b, 'x', n);
		report(write(fd, b, n));
	} else {
		fprintf(stderr, "unknown mode %s\n", argv[1]);
		return 2;
	}
	return 0;
}
