#include "netns.h"

#include <errno.h>
#include <net/if.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>

static int count_links(struct nl_cache *cache)
{
    int n = 0;
    for (struct nl_object *o = nl_cache_get_first(cache); o != NULL; o = nl_cache_get_next(o))
        n++;
    return n;
}

int cj_netns_setup(void)
{
    int rc = -EIO;
    struct nl_sock *sk = nl_socket_alloc();
    struct nl_cache *cache = NULL;
    struct rtnl_link *change = NULL;
    if (sk == NULL)
        return -ENOMEM;
    if (nl_connect(sk, NETLINK_ROUTE) < 0)
        goto out;
    if (rtnl_link_alloc_cache(sk, AF_UNSPEC, &cache) < 0)
        goto out;
    struct rtnl_link *lo = rtnl_link_get_by_name(cache, "lo");
    /* A fresh namespace has exactly lo; anything else means we are not in
     * the namespace we think we are in: fail closed. */
    if (lo == NULL || count_links(cache) != 1) {
        if (lo != NULL)
            rtnl_link_put(lo);
        rc = -EEXIST;
        goto out;
    }
    change = rtnl_link_alloc();
    if (change == NULL) {
        rtnl_link_put(lo);
        rc = -ENOMEM;
        goto out;
    }
    rtnl_link_set_flags(change, IFF_UP);
    int r = rtnl_link_change(sk, lo, change, 0);
    rtnl_link_put(lo);
    if (r < 0)
        goto out;
    /* Read it back rather than trust the acknowledgement. */
    nl_cache_refill(sk, cache);
    lo = rtnl_link_get_by_name(cache, "lo");
    if (lo != NULL && (rtnl_link_get_flags(lo) & IFF_UP))
        rc = 0;
    if (lo != NULL)
        rtnl_link_put(lo);
out:
    if (change != NULL)
        rtnl_link_put(change);
    if (cache != NULL)
        nl_cache_free(cache);
    nl_socket_free(sk);
    return rc;
}
