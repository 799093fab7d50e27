#ifndef FLYWHEEL_CPROCESSSHIM_H
#define FLYWHEEL_CPROCESSSHIM_H

// No _GNU_SOURCE here: these headers are compiled into this module and into Swift's Glibc module, and clang refuses
// to merge declarations (fd_set, environ) that a feature macro made differ. The two GNU functions are declared below.
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <unistd.h>

#if defined(__GLIBC__) && !defined(__USE_GNU)
extern int pipe2(int fds[2], int flags);
#if __GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 29)
extern int posix_spawn_file_actions_addchdir_np(posix_spawn_file_actions_t *restrict actions,
                                                const char *restrict path);
#endif
#endif

/// Creates a pipe whose two descriptors are close-on-exec, so no child inherits them by accident.
/// Returns 0, or -1 with errno set.
static inline int flywheel_pipe_cloexec(int fds[2]) {
#if defined(__APPLE__)
    // macOS has no pipe2: a child spawned by another thread between these calls could inherit the descriptors.
    if (pipe(fds) != 0) return -1;
    if (fcntl(fds[0], F_SETFD, FD_CLOEXEC) != 0 || fcntl(fds[1], F_SETFD, FD_CLOEXEC) != 0) {
        int saved = errno;
        close(fds[0]);
        close(fds[1]);
        errno = saved;
        return -1;
    }
    return 0;
#else
    return pipe2(fds, O_CLOEXEC);
#endif
}

/// Adds "change to `path`" to a spawn's file actions (glibc 2.29 and later, macOS 10.15 and later).
/// Returns 0 or an error number: ENOSYS where the C library has no such action.
static inline int flywheel_spawn_addchdir(posix_spawn_file_actions_t *actions, const char *path) {
#if defined(__APPLE__) || (defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 29)))
    return posix_spawn_file_actions_addchdir_np(actions, path);
#else
    (void)actions;
    (void)path;
    return ENOSYS;
#endif
}

#endif
