/* shimcheck.h - the one assertion of the integration tests' helper
 * programs (run under libustack.so): on failure print the line, the
 * message and errno (saved before printing clobbers it), and exit 1. */
#ifndef USTACK_SHIMCHECK_H
#define USTACK_SHIMCHECK_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(c, ...)                                                          \
	do {                                                                   \
		if (!(c)) {                                                    \
			int e_ = errno;                                        \
			fprintf(stderr, "FAIL line %d: ", __LINE__);           \
			fprintf(stderr, __VA_ARGS__);                          \
			fprintf(stderr, " (errno %s)\n", strerror(e_));        \
			exit(1);                                               \
		}                                                              \
	} while (0)

#endif
