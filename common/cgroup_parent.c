#include "cgroup_parent.h"

/* Relative, and never climbing out: ".." would let a configuration place
 * sandboxes (and their limits) in someone else's part of the tree.  Empty
 * and "." components are refused rather than dropped, so each cgroup has one
 * spelling and what init made is what the server uses.  Control characters:
 * the kernel refuses a newline in a cgroup name (it would forge a line of
 * /proc/<pid>/cgroup), and none belongs in a log line either. */
bool cj_cgroup_parent_valid(const char *s, size_t n)
{
    if (s == NULL || n == 0 || n > CJ_CGROUP_PARENT_MAX)
        return false;
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '/') {
            unsigned char ch = (unsigned char)s[i];
            if (ch < 0x20 || ch == 0x7f)
                return false;
            continue;
        }
        size_t len = i - start;
        if (len == 0 || (len == 1 && s[start] == '.') || (len == 2 && s[start] == '.' && s[start + 1] == '.'))
            return false;
        start = i + 1;
    }
    return true;
}
