#define _GNU_SOURCE
#include "CSpawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void fail(int pipe_fd) {
    int error = errno;
    ssize_t ignored = write(pipe_fd, &error, sizeof error);
    (void)ignored;
    _exit(127);
}

pid_t cspawn_program(const char *path, char *const argv[], char *const envp[], const char *cwd,
                     int stdout_fd, int stderr_fd) {
    int report[2];
    if (pipe2(report, O_CLOEXEC) != 0) return -errno;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        int error = errno;
        close(report[0]);
        close(report[1]);
        return -error;
    }
    if (pid == 0) {
        close(report[0]);
        if (setpgid(0, 0) != 0) fail(report[1]);
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) fail(report[1]);
        if (getppid() != parent) _exit(127);  // the worker died before the line above
        if (chdir(cwd) != 0) fail(report[1]);
        int in = open("/dev/null", O_RDONLY);
        if (in < 0) fail(report[1]);
        if (dup2(in, 0) < 0 || dup2(stdout_fd, 1) < 0 || dup2(stderr_fd, 2) < 0) fail(report[1]);
        struct sigaction action;
        memset(&action, 0, sizeof action);
        action.sa_handler = SIG_DFL;
        for (int signal = 1; signal < NSIG; signal++) sigaction(signal, &action, NULL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execve(path, argv, envp);
        fail(report[1]);
    }
    close(report[1]);
    int error = 0;
    ssize_t got;
    do { got = read(report[0], &error, sizeof error); } while (got < 0 && errno == EINTR);
    close(report[0]);
    if (got == (ssize_t)sizeof error) {
        waitpid(pid, NULL, 0);
        return -error;
    }
    return pid;
}

int cspawn_pidfd(pid_t pid) {
#ifdef SYS_pidfd_open
    return (int)syscall(SYS_pidfd_open, pid, 0);
#else
    (void)pid;
    return -1;
#endif
}

void cspawn_wait(int pidfd, const int *fds, int count, int timeout_ms) {
    struct pollfd entries[3];
    int used = 0;
    if (pidfd >= 0) entries[used++] = (struct pollfd){.fd = pidfd, .events = POLLIN, .revents = 0};
    for (int index = 0; index < count && used < 3; index++) {
        if (fds[index] >= 0) entries[used++] = (struct pollfd){.fd = fds[index], .events = POLLIN, .revents = 0};
    }
    if (used == 0) {
        usleep((useconds_t)timeout_ms * 1000);
        return;
    }
    poll(entries, (nfds_t)used, timeout_ms);
}

int cspawn_output_pipe(int fds[2]) {
    if (pipe2(fds, O_CLOEXEC) != 0) return -errno;
    int flags = fcntl(fds[0], F_GETFL);
    if (flags < 0 || fcntl(fds[0], F_SETFL, flags | O_NONBLOCK) != 0) {
        int error = errno;
        close(fds[0]);
        close(fds[1]);
        return -error;
    }
    fcntl(fds[0], F_SETPIPE_SZ, 1 << 20);  // best effort: a larger buffer, where the limit allows
    return 0;
}
