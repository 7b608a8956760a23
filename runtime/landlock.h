/* Landlock: the sandbox may read and execute the interpreter's files, read
 * its directory, and write only its tmp/.  The ABI is negotiated as
 * min(kernel, what this code knows); rights the kernel lacks are dropped
 * from the ruleset, never the whole layer. */
#ifndef CJ_LANDLOCK_H
#define CJ_LANDLOCK_H

/* The kernel's Landlock ABI version, 0 when Landlock is unavailable
 * (not built, disabled at boot, or blocked). */
int cj_landlock_abi(void);

typedef struct cj_landlock_spec {
    /* NULL-terminated lists of paths as the child sees them (after its
     * mount namespace is set up).  A path may be a file or a directory;
     * a missing path is an error (the caller lists only what exists). */
    const char *const *exec_paths;  /* read + execute (files, dirs beneath) */
    const char *const *read_paths;  /* read files, list dirs */
    const char *const *write_paths; /* read, write, create, remove, truncate beneath */
} cj_landlock_spec;

/* Called in the child between fork and exec: only system calls, no
 * allocation.  Builds the ruleset for the negotiated ABI, denying every
 * filesystem right not granted above; from ABI 4 denies all TCP bind and
 * connect; from ABI 6 scopes abstract UNIX sockets and signals to the
 * sandbox.  Sets no_new_privs itself if not set.  Returns the ABI enforced
 * (> 0) or -errno. */
int cj_landlock_apply(const cj_landlock_spec *spec);

#endif
