/* Capabilities: none in any set of the sandboxed process, and no way back
 * to them (bounding set emptied, securebits locked, ambient cleared). */
#ifndef CJ_CAPS_H
#define CJ_CAPS_H

#include <sys/types.h>

/* Child side, while still root: empties the bounding and ambient sets and
 * locks securebits so no later uid change or exec can regain anything.
 * Returns 0 or -errno. */
int cj_caps_lock_down(void);
/* Child side, after the switch to the unprivileged uid: clears every set
 * and verifies effective, permitted, inheritable, ambient and bounding are
 * all empty.  Returns 0 or -errno (-EPERM when something remained). */
int cj_caps_verify_none(void);

#endif
