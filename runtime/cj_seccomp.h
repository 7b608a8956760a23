/* seccomp: compiled once in the parent with libseccomp, applied in the child
 * as a raw BPF program (no allocation between fork and exec).
 *
 * Stage 1 (applied before exec): an allow-list (seccomp_syscalls.c) for
 * the native architecture only, other ABIs killed; every syscall it does
 * not name, newer kernels' included, fails with ENOSYS; sockets other than
 * AF_UNIX, connect() and sendto() to an address fail with EACCES;
 * namespace, mount, ptrace, bpf, keyring, io_uring, kexec, module, perf,
 * userfaultfd, SysV IPC and process_vm_* calls fail with EPERM.  execve
 * stays allowed so the interpreter can start.
 *
 * Stage 2 (applied by codejail-noexec.so's constructor inside the
 * interpreter, after its exec and before any Python code runs): execve and
 * execveat fail with EACCES, so no program can be run, the interpreter's own
 * binary included. */
#ifndef CJ_SECCOMP_H
#define CJ_SECCOMP_H

#include <linux/filter.h>

#include "error.h"

typedef struct cj_seccomp {
    struct sock_fprog prog; /* filter points into heap memory owned here */
} cj_seccomp;

int cj_seccomp_build_stage1(cj_seccomp *out, cj_err *err);
void cj_seccomp_free(cj_seccomp *s);

/* Child side: async-signal-safe.  Requires no_new_privs (sets it), and
 * proves the filter in force with two probe calls.  Returns 0 or -errno. */
int cj_seccomp_apply(const cj_seccomp *s);

#endif
