#ifndef CSPAWN_H
#define CSPAWN_H
#include <spawn.h>

/// posix_spawn_file_actions_addchdir_np (glibc ≥ 2.29), which Swift's Glibc module does not show.
int cspawn_addchdir(posix_spawn_file_actions_t *actions, const char *path);

#endif
