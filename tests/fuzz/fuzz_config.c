/* libFuzzer driver for the configuration loader: any input, loaded over the
 * defaults, must either load into a config that keeps the loader's promises
 * or fail with a message, and leak nothing either way (ASan checks that).
 * Build: clang -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Ihttp -Icommon
 *        tests/fuzz/fuzz_config.c http/config.c common/log.c common/files.c common/cgroup_parent.c -lyaml
 * Seed it with compose/codejail.yaml. */
#include "cgroup_parent.h"
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* abort() rather than assert(): the check must hold in every build. */
#define MUST(cond)         \
    do {                   \
        if (!(cond))       \
            abort();       \
    } while (0)

static void check_valid(const cj_config *c)
{
    MUST(c->python_bin != NULL && c->python_bin[0] == '/');
    MUST(c->work_dir != NULL && c->work_dir[0] == '/');
    MUST(c->listen != NULL && strchr(c->listen, ':') != NULL);
    MUST(c->user != NULL && c->user[0] != '\0');
    MUST(c->apparmor_profile != NULL && c->apparmor_profile[0] != '\0');
    MUST(c->cgroup_parent != NULL &&
         (c->cgroup_parent[0] == '\0' || cj_cgroup_parent_valid(c->cgroup_parent, strlen(c->cgroup_parent))));
    MUST(c->max_concurrency >= 1 && c->max_queue >= 0);
    MUST(c->max_body_bytes >= 1024 && c->max_output_bytes >= 1024);
    MUST(c->limits.cpu >= 1 && c->limits.realtime >= 1 && c->limits.nproc >= 1);
    MUST(c->limits.vmem >= 0 && c->limits.fsize >= 0);
    MUST(c->drain_timeout >= 0);
    for (size_t i = 0; i < c->n_overrides; i++) {
        const cj_override *o = &c->overrides[i];
        MUST(o->context != NULL);
        cj_limits l = cj_config_limits_for(c, o->context, strlen(o->context));
        MUST(l.cpu >= 1 && l.realtime >= 1 && l.nproc >= 1 && l.vmem >= 0 && l.fsize >= 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cj_config c;
    cj_config_defaults(&c);
    cj_err err;
    memset(&err, 'x', sizeof(err));
    if (cj_config_load_string(&c, (const char *)data, size, &err) == 0) {
        check_valid(&c);
        /* and again over itself, which exercises replacing every string */
        cj_err err2;
        MUST(cj_config_load_string(&c, (const char *)data, size, &err2) == 0);
        check_valid(&c);
    } else {
        MUST(memchr(err.msg, '\0', sizeof(err.msg)) != NULL && err.msg[0] != '\0');
        check_valid(&c); /* a failed load leaves the defaults untouched */
    }
    cj_config_free(&c);
    return 0;
}
