/* AppArmor: the production policy Open edX operators know.  The sandboxed
 * interpreter changes to the sandbox profile at its exec. */
#ifndef CJ_APPARMOR_H
#define CJ_APPARMOR_H

/* 1 when the host kernel has AppArmor enabled (libapparmor's check). */
int cj_apparmor_enabled(void);

/* Child side: asks for `profile` at the next exec, the way aa_change_onexec
 * does, but through an fd on the host's /proc opened before the sandbox's
 * root replaced it (the sandbox has no /proc).  Only system calls.
 * Returns 0 or -errno. */
int cj_apparmor_onexec(int host_proc_fd, const char *profile);

/* Child side, for the warm path (no exec follows): changes to `profile`
 * at once, the way aa_change_profile does, and reads the label back. */
int cj_apparmor_change_now(int host_proc_fd, const char *profile);

#endif
