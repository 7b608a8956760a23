/* The cgroup the executions' cgroups are made under, relative to the root of
 * each hierarchy the server sees.  codejail-init makes it, the config
 * accepts it and the runtime creates cgroups in it: all by this one rule. */
#ifndef CJ_CGROUP_PARENT_H
#define CJ_CGROUP_PARENT_H

#include <stdbool.h>
#include <stddef.h>

#define CJ_CGROUP_PARENT_DEFAULT "codejail"
#define CJ_CGROUP_PARENT_MAX 255 /* bytes; a name alone may be as long (NAME_MAX) */
/* The rule in the words every error message quotes. */
#define CJ_CGROUP_PARENT_RULE                                                                                 \
    "a relative cgroup path (names joined by '/', none empty, '.' or '..'; no control characters; at most 255 " \
    "bytes)"

/* Whether s[0..n) follows the rule.  NULL and "" do not (the config's ""
 * for "no cgroups" is the config's to handle). */
bool cj_cgroup_parent_valid(const char *s, size_t n);

#endif
