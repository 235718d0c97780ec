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

/// Waits up to `timeout_ms` for process `pid` to end, waking at once when it does (a pidfd,
/// Linux ≥ 5.3; without one it sleeps the whole timeout). `pidfd` is from cspawn_pidfd or -1.
void cspawn_wait_exit(int pidfd, int timeout_ms);

/// A pidfd for `pid` (close it with close()), or -1 where the kernel has none.
int cspawn_pidfd(pid_t pid);

#endif
