#ifndef CSPAWN_H
#define CSPAWN_H
#include <sys/types.h>

/// Starts a program trial: fork, then in the child (async-signal-safe calls only) a process
/// group of its own, death with its parent (PR_SET_PDEATHSIG: a worker killed with SIGKILL takes
/// its program along), the folder `cwd`, stdin from /dev/null, stdout and stderr into the two
/// files, no signal blocked or ignored, then execve. Returns the child's pid, or -errno (the
/// child's exec error is reported through a close-on-exec pipe).
pid_t cspawn_program(const char *path, char *const argv[], char *const envp[], const char *cwd,
                     const char *stdout_path, const char *stderr_path);

#endif
