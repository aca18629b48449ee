// SPDX-License-Identifier: GPL-2.0
/*
 * uaccess-probe - tiny static helper for e2e guest scripts (busybox cannot
 * do these): it makes one write(2) whose user buffer or size is unusual.
 *
 *   uaccess-probe fault FILE    write 4 bytes from an unmapped user address
 *   uaccess-probe big FILE N    write N bytes of 'x' in a single call
 *   uaccess-probe pipe          make a pipe, print "size=<F_GETPIPE_SZ>
 *                               filled=<bytes a non-blocking write of 1 MiB
 *                               put in> drained=<bytes read back intact>"
 *
 * Prints "ret=<n>" or "errno=<NAME>" and exits 0 unless it could not even
 * open FILE.  Used for exception-table (EFAULT, no oops) and WARN_ON checks,
 * and (pipe) to see the capacity of a new pipe (scenario 11).
 */
#define _GNU_SOURCE
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

static int pipe_probe(void)
{
	static char buf[1 << 20], back[1 << 16];
	ssize_t filled, n, drained = 0;
	int p[2], sz, i;

	if (pipe2(p, O_NONBLOCK))
		return 1;
	sz = fcntl(p[0], F_GETPIPE_SZ);
	for (i = 0; i < (int)sizeof(buf); i++)
		buf[i] = (char)(i % 251);
	filled = write(p[1], buf, sizeof(buf));
	while ((n = read(p[0], back, sizeof(back))) > 0) {
		if (memcmp(back, buf + drained, n))
			break;
		drained += n;
	}
	printf("size=%d filled=%zd drained=%zd\n", sz, filled, drained);
	return 0;
}

int main(int argc, char **argv)
{
	int fd;

	if (argc == 2 && !strcmp(argv[1], "pipe"))
		return pipe_probe();
	if (argc < 3) {
		fprintf(stderr, "usage: uaccess-probe fault|big FILE [N] | pipe\n");
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
