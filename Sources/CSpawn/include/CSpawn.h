#ifndef CSPAWN_H
#define CSPAWN_H
#include <sys/types.h>

/// Starts a program trial: fork, then in the child (async-signal-safe calls only) a process
/// group of its own, death with its parent (PR_SET_PDEATHSIG: a worker killed with SIGKILL takes
/// its program along), the folder `cwd`, stdin from /dev/null, stdout and stderr onto the two
/// descriptors (the write ends of pipes the caller drains), no signal blocked or ignored, then
/// execve. Returns the child's pid, or -errno (the child's exec error is reported through a
/// close-on-exec pipe).
pid_t cspawn_program(const char *path, char *const argv[], char *const envp[], const char *cwd,
                     int stdout_fd, int stderr_fd);

/// Waits up to `timeout_ms` for process `pidfd` to end or for one of `count` (at most 2)
/// descriptors to be readable, waking at once when either happens (a pidfd, Linux ≥ 5.3; -1
/// without one). Descriptors of -1 are left out.
void cspawn_wait(int pidfd, const int *fds, int count, int timeout_ms);

/// A pipe for a program's output: both ends close-on-exec, the read end (fds[0]) non-blocking
/// and, where the limit allows, 1 MiB large (a chatty program writes on between two reads).
/// Returns 0, or -errno.
int cspawn_output_pipe(int fds[2]);

/// A pidfd for `pid` (close it with close()), or -1 where the kernel has none.
int cspawn_pidfd(pid_t pid);

#endif
