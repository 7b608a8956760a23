#include "layout.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "mounts.h"

/* Where Debian keeps matplotlib's own copy of /etc/matplotlibrc. */
#define CJ_MATPLOTLIBRC "/usr/share/matplotlib/mpl-data"

int cj_layout_views(const cj_layout_in *in, cj_views *v)
{
    const char *base = strrchr(in->host_dir, '/');
    base = base != NULL ? base + 1 : in->host_dir;
    if (in->namespaces)
        snprintf(v->inner_dir, sizeof(v->inner_dir), "/tmp/%s", base);
    else
        snprintf(v->inner_dir, sizeof(v->inner_dir), "%s", in->host_dir);
    snprintf(v->inner_tmp, sizeof(v->inner_tmp), "%s/tmp", v->inner_dir);
    snprintf(v->tmp_opts, sizeof(v->tmp_opts), "size=%lld,nr_inodes=4096,mode=0700,uid=%u,gid=%u", in->tmp_bytes,
             (unsigned)in->uid, (unsigned)in->gid);
    static const char *const devices[CJ_N_DEVICES] = CJ_DEVICES;
    size_t ne = 0, nr = 0, nw = 0;
    for (size_t i = 0; in->binds != NULL && in->binds[i] != NULL; i++) {
        if (ne + 1 >= CJ_MAX_PATHS)
            return -E2BIG;
        v->exec[ne++] = in->binds[i];
    }
    v->read[nr++] = v->inner_dir;
    for (size_t i = 1; i < CJ_N_DEVICES; i++)
        v->read[nr++] = devices[i];
    if (in->noexec_so != NULL)
        v->read[nr++] = in->noexec_so;
    if (in->pyc) {
        v->read[nr++] = CJ_INNER_PYC0;
        v->read[nr++] = CJ_INNER_PYC1;
    }
    v->write[nw++] = v->inner_tmp;
    v->write[nw++] = devices[0];
    v->exec[ne] = v->read[nr] = v->write[nw] = NULL;
    return 0;
}

int cj_layout_environ(const char *inner_tmp, const char *preload, char *buf, size_t len, char **envp, size_t max)
{
    /* A home of its own in tmp/, as codejail's sudo gives one: pathlib and
     * matplotlib refuse to start without; matplotlib keeps its cache there.
     * Debian's matplotlib reads its defaults from /etc/matplotlibrc, which
     * the root does not hold: MATPLOTLIBRC names the same file under /usr
     * (a matplotlib that lacks it there looks in its own data). */
    char entries[8][PATH_MAX + 32];
    size_t n = 0;
    snprintf(entries[n++], sizeof(entries[0]), "PATH=/usr/local/bin:/usr/bin:/bin");
    snprintf(entries[n++], sizeof(entries[0]), "OPENBLAS_NUM_THREADS=1");
    snprintf(entries[n++], sizeof(entries[0]), "LANG=C.UTF-8");
    if (inner_tmp != NULL) {
        snprintf(entries[n++], sizeof(entries[0]), "TMPDIR=%s", inner_tmp);
        snprintf(entries[n++], sizeof(entries[0]), "HOME=%s", inner_tmp);
        snprintf(entries[n++], sizeof(entries[0]), "MPLCONFIGDIR=%s/.matplotlib", inner_tmp);
        snprintf(entries[n++], sizeof(entries[0]), "MATPLOTLIBRC=" CJ_MATPLOTLIBRC);
    }
    if (preload != NULL)
        snprintf(entries[n++], sizeof(entries[0]), "LD_PRELOAD=%s", preload);
    if (n + 1 > max)
        return -ENOSPC;
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(entries[i]) + 1;
        if (off + l > len)
            return -ENOSPC;
        memcpy(buf + off, entries[i], l);
        envp[i] = buf + off;
        off += l;
    }
    envp[n] = NULL;
    return (int)n;
}
