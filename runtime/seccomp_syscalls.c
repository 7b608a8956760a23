/* Stage 1's table: every syscall it answers without looking at arguments.
 * Anything not named here or in seccomp.c's argument rules fails with
 * ENOSYS, as on a kernel that lacks it: that covers calls newer than this
 * table (listmount and statmount, kernel 6.8, describe the host's mounts)
 * and whole interfaces the sandbox never needs.
 *
 * The allowed set was drawn from what the interpreter, its loader and the
 * sandbox's package list (numpy, scipy, sympy, matplotlib, lxml,
 * cryptography, networkx, nltk...) call, checked against Docker's default
 * profile; tests/escape/test_syscalls.py runs that workload on every path.
 * Calls absent on an architecture (open, stat... on aarch64) resolve to
 * nothing and are skipped.
 *
 * Docker allows, and this list does not (ENOSYS): Linux AIO (io_setup...),
 * whose users here would be none; POSIX message queues, a channel between
 * executions without an IPC namespace; mlock*, pkey_*, membarrier and
 * vmsplice, which nothing in the workload calls; mbind and the mempolicy
 * calls (OpenBLAS's threads try mbind as a hint and go on without it);
 * sync/syncfs, which flush the host's disks; get_robust_list, which reads
 * another task's state; and every call newer than kernel 6.7 (futex_wait,
 * listmount, statmount, mseal, *xattrat, lsm_*...), until someone adds it
 * here with a reason. */
#include "seccomp_syscalls.h"

#include <errno.h>
#include <seccomp.h>

/* --- Allowed: what a Python process does with its own resources. ------ */

/* Starting and ending: the exec of the interpreter itself (stage 2 takes
 * it away after), its children and threads (clone: seccomp.c). */
static const struct cj_sys process[] = {
    CJ_SYS(execve),     CJ_SYS(execveat),   CJ_SYS(fork),       CJ_SYS(vfork),     CJ_SYS(exit),
    CJ_SYS(exit_group), CJ_SYS(wait4),      CJ_SYS(waitid),     CJ_SYS(futex),     CJ_SYS(futex_waitv),
    CJ_SYS(set_robust_list), CJ_SYS(set_tid_address), CJ_SYS(rseq), CJ_SYS(arch_prctl), CJ_SYS(prctl),
};

/* Who am I: queries, and changes the kernel refuses an unprivileged,
 * capability-less process (the kernel's own EPERM stays the answer). */
static const struct cj_sys identity[] = {
    CJ_SYS(getpid),    CJ_SYS(getppid),   CJ_SYS(gettid),    CJ_SYS(getpgid),   CJ_SYS(getpgrp),
    CJ_SYS(getsid),    CJ_SYS(setpgid),   CJ_SYS(setsid),    CJ_SYS(getuid),    CJ_SYS(geteuid),
    CJ_SYS(getgid),    CJ_SYS(getegid),   CJ_SYS(getresuid), CJ_SYS(getresgid), CJ_SYS(getgroups),
    CJ_SYS(setuid),    CJ_SYS(setgid),    CJ_SYS(setreuid),  CJ_SYS(setregid),  CJ_SYS(setresuid),
    CJ_SYS(setresgid), CJ_SYS(setgroups), CJ_SYS(setfsuid),  CJ_SYS(setfsgid),  CJ_SYS(capget),
    CJ_SYS(capset),    CJ_SYS(umask),
};

/* Scheduling and limits of itself: numpy and BLAS ask for the CPU set,
 * the request's rlimits are set with prlimit64; raising anything past the
 * hard limits needs a capability the sandbox lacks. */
static const struct cj_sys sched[] = {
    CJ_SYS(sched_yield),          CJ_SYS(sched_getaffinity),     CJ_SYS(sched_setaffinity),
    CJ_SYS(sched_getparam),       CJ_SYS(sched_setparam),        CJ_SYS(sched_getscheduler),
    CJ_SYS(sched_setscheduler),   CJ_SYS(sched_getattr),         CJ_SYS(sched_setattr),
    CJ_SYS(sched_get_priority_max), CJ_SYS(sched_get_priority_min), CJ_SYS(sched_rr_get_interval),
    CJ_SYS(getpriority),          CJ_SYS(setpriority),           CJ_SYS(ioprio_get),
    CJ_SYS(ioprio_set),           CJ_SYS(getrlimit),             CJ_SYS(setrlimit),
    CJ_SYS(prlimit64),            CJ_SYS(getrusage),             CJ_SYS(times),
    CJ_SYS(getcpu),
};

/* Its own memory: the allocator, the loader, JITted cffi callbacks. */
static const struct cj_sys memory[] = {
    CJ_SYS(brk),     CJ_SYS(mmap),    CJ_SYS(munmap),  CJ_SYS(mremap), CJ_SYS(mprotect),
    CJ_SYS(madvise), CJ_SYS(msync),   CJ_SYS(mincore), CJ_SYS(memfd_create),
};

/* Signals within its own pid namespace (or, without one, its own uid). */
static const struct cj_sys signals[] = {
    CJ_SYS(rt_sigaction),    CJ_SYS(rt_sigprocmask),  CJ_SYS(rt_sigreturn), CJ_SYS(rt_sigpending),
    CJ_SYS(rt_sigsuspend),   CJ_SYS(rt_sigtimedwait), CJ_SYS(rt_sigqueueinfo), CJ_SYS(rt_tgsigqueueinfo),
    CJ_SYS(sigaltstack),     CJ_SYS(kill),            CJ_SYS(tkill),        CJ_SYS(tgkill),
    CJ_SYS(pause),           CJ_SYS(restart_syscall), CJ_SYS(pidfd_open),   CJ_SYS(pidfd_send_signal),
};

/* Clocks and timers (time.sleep, signal.alarm, the vDSO's fallbacks). */
static const struct cj_sys clocks[] = {
    CJ_SYS(clock_gettime),   CJ_SYS(clock_getres),    CJ_SYS(clock_nanosleep), CJ_SYS(gettimeofday),
    CJ_SYS(time),            CJ_SYS(nanosleep),       CJ_SYS(alarm),           CJ_SYS(getitimer),
    CJ_SYS(setitimer),       CJ_SYS(timer_create),    CJ_SYS(timer_settime),   CJ_SYS(timer_gettime),
    CJ_SYS(timer_getoverrun), CJ_SYS(timer_delete),   CJ_SYS(timerfd_create),  CJ_SYS(timerfd_settime),
    CJ_SYS(timerfd_gettime),
};

/* Files by path and by fd: what may be reached is Landlock's and the mount
 * namespace's to decide, not this filter's. */
static const struct cj_sys files[] = {
    CJ_SYS(read),        CJ_SYS(write),       CJ_SYS(readv),       CJ_SYS(writev),      CJ_SYS(pread64),
    CJ_SYS(pwrite64),    CJ_SYS(preadv),      CJ_SYS(pwritev),     CJ_SYS(preadv2),     CJ_SYS(pwritev2),
    CJ_SYS(open),        CJ_SYS(openat),      CJ_SYS(openat2),     CJ_SYS(creat),       CJ_SYS(close),
    CJ_SYS(close_range), CJ_SYS(dup),         CJ_SYS(dup2),        CJ_SYS(dup3),        CJ_SYS(fcntl),
    CJ_SYS(flock),       CJ_SYS(lseek),       CJ_SYS(stat),        CJ_SYS(fstat),       CJ_SYS(lstat),
    CJ_SYS(newfstatat),  CJ_SYS(statx),       CJ_SYS(statfs),      CJ_SYS(fstatfs),     CJ_SYS(access),
    CJ_SYS(faccessat),   CJ_SYS(faccessat2),  CJ_SYS(readlink),    CJ_SYS(readlinkat),  CJ_SYS(getdents),
    CJ_SYS(getdents64),  CJ_SYS(getcwd),      CJ_SYS(chdir),       CJ_SYS(fchdir),      CJ_SYS(mkdir),
    CJ_SYS(mkdirat),     CJ_SYS(rmdir),       CJ_SYS(unlink),      CJ_SYS(unlinkat),    CJ_SYS(rename),
    CJ_SYS(renameat),    CJ_SYS(renameat2),   CJ_SYS(link),        CJ_SYS(linkat),      CJ_SYS(symlink),
    CJ_SYS(symlinkat),   CJ_SYS(mknod),       CJ_SYS(mknodat),     CJ_SYS(chmod),       CJ_SYS(fchmod),
    CJ_SYS(fchmodat),    CJ_SYS(chown),       CJ_SYS(fchown),      CJ_SYS(lchown),
    CJ_SYS(fchownat),    CJ_SYS(truncate),    CJ_SYS(ftruncate),   CJ_SYS(fallocate),   CJ_SYS(fsync),
    CJ_SYS(fdatasync),   CJ_SYS(sync_file_range), CJ_SYS(utime),   CJ_SYS(utimes),      CJ_SYS(futimesat),
    CJ_SYS(utimensat),   CJ_SYS(readahead),   CJ_SYS(fadvise64),   CJ_SYS(sendfile),    CJ_SYS(copy_file_range),
    CJ_SYS(splice),      CJ_SYS(tee),         CJ_SYS(getxattr),    CJ_SYS(lgetxattr),   CJ_SYS(fgetxattr),
    CJ_SYS(listxattr),   CJ_SYS(llistxattr),  CJ_SYS(flistxattr),  CJ_SYS(setxattr),    CJ_SYS(lsetxattr),
    CJ_SYS(fsetxattr),   CJ_SYS(removexattr), CJ_SYS(lremovexattr), CJ_SYS(fremovexattr),
};

/* Waiting on fds: pipes, event loops, inotify (asyncio, selectors). */
static const struct cj_sys events[] = {
    CJ_SYS(pipe),          CJ_SYS(pipe2),        CJ_SYS(select),        CJ_SYS(pselect6),
    CJ_SYS(poll),          CJ_SYS(ppoll),        CJ_SYS(epoll_create),  CJ_SYS(epoll_create1),
    CJ_SYS(epoll_ctl),     CJ_SYS(epoll_wait),   CJ_SYS(epoll_pwait),   CJ_SYS(epoll_pwait2),
    CJ_SYS(eventfd),       CJ_SYS(eventfd2),     CJ_SYS(signalfd),      CJ_SYS(signalfd4),
    CJ_SYS(inotify_init),  CJ_SYS(inotify_init1), CJ_SYS(inotify_add_watch), CJ_SYS(inotify_rm_watch),
};

/* Sockets already made: only AF_UNIX ones can exist (socket(), connect()
 * and sendto() have argument rules in seccomp.c). */
static const struct cj_sys sockets[] = {
    CJ_SYS(bind),       CJ_SYS(listen),     CJ_SYS(accept),     CJ_SYS(accept4),  CJ_SYS(getsockname),
    CJ_SYS(getpeername), CJ_SYS(recvfrom),  CJ_SYS(sendmsg),    CJ_SYS(recvmsg),  CJ_SYS(sendmmsg),
    CJ_SYS(recvmmsg),   CJ_SYS(shutdown),   CJ_SYS(setsockopt), CJ_SYS(getsockopt),
};

/* About the machine, read-only, and randomness.  sysinfo shows the host's
 * RAM, uptime, load and process count (the sandbox has no /proc to show
 * them), which concurrent executions can read and move: kept, because
 * glibc's sysconf(_SC_PHYS_PAGES), which qsort calls, ignores its failure
 * and answers from an uninitialised struct (7.2e12 pages, seen on the warm
 * path with sysinfo refused). */
static const struct cj_sys info[] = {
    CJ_SYS(uname),
    CJ_SYS(sysinfo),
    CJ_SYS(getrandom),
};

/* Confining itself further can only take rights away; stage 2 is itself
 * installed through seccomp(). */
static const struct cj_sys confine[] = {
    CJ_SYS(seccomp),
    CJ_SYS(landlock_create_ruleset),
    CJ_SYS(landlock_add_rule),
    CJ_SYS(landlock_restrict_self),
};

/* --- Refused with EPERM: named, so that Python says PermissionError, as
 * it does for every wall the sandbox has. ------------------------------ */

/* Namespaces: a new user namespace hands the caller a full capability set
 * inside it, which opens the kernel code (netfilter, mount, ...) behind
 * most recent local privilege escalations; setns() would let a leaked
 * namespace fd pull the process out of its jail. */
static const struct cj_sys namespaces[] = {CJ_SYS(unshare), CJ_SYS(setns)};

/* Mount table: the sandbox may hold CAP_SYS_ADMIN over its own mount
 * namespace; unmounting or remounting could uncover what the read-only and
 * tmpfs mounts hide, or build a view Landlock was not written for. */
static const struct cj_sys mounts[] = {
    CJ_SYS(mount),    CJ_SYS(umount2), CJ_SYS(pivot_root), CJ_SYS(chroot),  CJ_SYS(move_mount),
    CJ_SYS(open_tree), CJ_SYS(fsopen), CJ_SYS(fsconfig),   CJ_SYS(fsmount), CJ_SYS(fspick),
    CJ_SYS(mount_setattr),
};

/* Other processes' memory and files: ptrace also used to be a way round
 * seccomp itself (a tracer could rewrite a syscall after the check). */
static const struct cj_sys others[] = {
    CJ_SYS(ptrace),          CJ_SYS(process_vm_readv), CJ_SYS(process_vm_writev),
    CJ_SYS(process_madvise), CJ_SYS(pidfd_getfd),      CJ_SYS(kcmp),
};

/* Large kernel attack surface with a record of exploits: eBPF verifier
 * bugs; perf; userfaultfd, the usual tool to stretch a kernel race window;
 * keyrings, largely shared with the host and other containers; io_uring,
 * whose ring operations (socket, connect, openat...) never pass through
 * this filter. */
static const struct cj_sys surface[] = {
    CJ_SYS(bpf),         CJ_SYS(perf_event_open), CJ_SYS(userfaultfd),   CJ_SYS(keyctl),
    CJ_SYS(add_key),     CJ_SYS(request_key),     CJ_SYS(io_uring_setup), CJ_SYS(io_uring_enter),
    CJ_SYS(io_uring_register),
};

/* The whole machine: kernel code, power, swap, accounting, quotas, the
 * terminal, host name and clocks (shared with the host or meaningless). */
static const struct cj_sys machine[] = {
    CJ_SYS(kexec_load),    CJ_SYS(kexec_file_load), CJ_SYS(init_module),   CJ_SYS(finit_module),
    CJ_SYS(delete_module), CJ_SYS(reboot),          CJ_SYS(swapon),        CJ_SYS(swapoff),
    CJ_SYS(acct),          CJ_SYS(quotactl),        CJ_SYS(quotactl_fd),   CJ_SYS(lookup_dcookie),
    CJ_SYS(vhangup),       CJ_SYS(setdomainname),   CJ_SYS(sethostname),   CJ_SYS(settimeofday),
    CJ_SYS(clock_settime), CJ_SYS(clock_adjtime),   CJ_SYS(adjtimex),
};

/* Opening a file by inode handle skips path lookup: the "shocker"
 * container escape, which path-based Landlock cannot see.  The kernel log
 * leaks kernel addresses; fanotify watches whole filesystems. */
static const struct cj_sys bypass[] = {
    CJ_SYS(name_to_handle_at), CJ_SYS(open_by_handle_at), CJ_SYS(syslog), CJ_SYS(fanotify_init),
};

/* x86 hardware and legacy interfaces: I/O ports, the LDT (a favourite of
 * past exploits), a.out loading, the dead NFS server call. */
static const struct cj_sys legacy[] = {
    CJ_SYS(ioperm), CJ_SYS(iopl), CJ_SYS(modify_ldt), CJ_SYS(uselib), CJ_SYS(nfsservctl),
};

/* SysV IPC: its objects outlive the processes that make them and are found
 * by a guessable key, a channel between executions wherever an IPC
 * namespace does not separate them (namespaces: false).  POSIX message
 * queues, the same channel, are simply not allowed (ENOSYS). */
static const struct cj_sys sysv[] = {
    CJ_SYS(msgget), CJ_SYS(msgsnd), CJ_SYS(msgrcv),     CJ_SYS(msgctl), CJ_SYS(semget), CJ_SYS(semop),
    CJ_SYS(semtimedop), CJ_SYS(semctl), CJ_SYS(shmget), CJ_SYS(shmat),  CJ_SYS(shmdt),  CJ_SYS(shmctl),
};

#define GROUP(arr, refuse) {#arr, refuse, arr, sizeof(arr) / sizeof(arr[0])}

static const struct cj_sys_group groups[] = {
    GROUP(process, 0),       GROUP(identity, 0),     GROUP(sched, 0),      GROUP(memory, 0),
    GROUP(signals, 0),       GROUP(clocks, 0),        GROUP(files, 0),      GROUP(events, 0),
    GROUP(sockets, 0),       GROUP(info, 0),         GROUP(confine, 0),    GROUP(namespaces, EPERM),
    GROUP(mounts, EPERM),    GROUP(others, EPERM),   GROUP(surface, EPERM), GROUP(machine, EPERM),
    GROUP(bypass, EPERM),    GROUP(legacy, EPERM),   GROUP(sysv, EPERM),
};

const struct cj_sys_group *cj_seccomp_groups(size_t *n)
{
    *n = sizeof(groups) / sizeof(groups[0]);
    return groups;
}

int cj_sys_resolve(const struct cj_sys *e)
{
    if (e->nr >= 0)
        return e->nr;
    int nr = seccomp_syscall_resolve_name(e->name);
    return nr >= 0 ? nr : -1;
}
