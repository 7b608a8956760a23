#include "caps.h"

#include <errno.h>
#include <linux/securebits.h>
#include <sys/capability.h>
#include <sys/prctl.h>

/* Highest capability number this kernel knows (newer than our headers is fine). */
static int last_cap(void)
{
    int c = CAP_LAST_CAP;
    while (prctl(PR_CAPBSET_READ, c + 1, 0, 0, 0) >= 0)
        c++;
    return c;
}

int cj_caps_lock_down(void)
{
    int last = last_cap();
    for (int c = 0; c <= last; c++)
        if (cap_drop_bound((cap_value_t)c) < 0)
            return -errno;
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
        return -errno;
    /* NOROOT: uid 0 gains nothing at exec.  The setuid fixup stays on (and
     * locked), so switching to the sandbox uid clears the permitted and
     * effective sets; KEEP_CAPS is locked off. */
    unsigned long bits = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP_LOCKED |
                         SECBIT_KEEP_CAPS_LOCKED | SECBIT_NO_CAP_AMBIENT_RAISE |
                         SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
    if (prctl(PR_SET_SECUREBITS, bits, 0, 0, 0) < 0)
        return -errno;
    return 0;
}

int cj_caps_verify_none(void)
{
    /* capset through raw structs: cap_init()/cap_set_proc would allocate. */
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct d[2] = {{0, 0, 0}, {0, 0, 0}};
    if (capset(&h, d) < 0)
        return -errno;
    if (capget(&h, d) < 0)
        return -errno;
    for (int i = 0; i < 2; i++)
        if (d[i].effective || d[i].permitted || d[i].inheritable)
            return -EPERM;
    int last = last_cap();
    for (int c = 0; c <= last; c++) {
        if (cap_get_bound((cap_value_t)c) != 0)
            return -EPERM;
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, c, 0, 0) > 0)
            return -EPERM;
    }
    return 0;
}
