/* The sandbox's network: a fresh namespace holding only the loopback
 * interface, brought up so local name resolution behaves normally; there is
 * no route out of it. */
#ifndef CJ_NETNS_H
#define CJ_NETNS_H

/* Child side, inside the new network namespace, as root.  Uses libnl (it
 * allocates: call it only in a child of a single-threaded process).
 * Returns 0 or -errno; verifies the interface is up and that it is the only
 * interface there. */
int cj_netns_setup(void);

#endif
