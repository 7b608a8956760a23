#include "zip_cache.h"

#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A few hundred zips at most: a linear scan of 32-byte keys costs
 * microseconds, far below the execution it serves. */
struct entry {
    cj_zip_key key;
    enum cj_zip_state state;
    unsigned char *blob;
    size_t len;
    uint64_t used; /* the cache's clock at its last use */
};

struct cj_zip_cache {
    struct entry *e;
    size_t n, max_entries, max_bytes, bytes;
    uint64_t clock;
    cj_zip_cache_stats counts;
};

cj_zip_cache *cj_zip_cache_new(size_t max_entries, size_t max_bytes)
{
    cj_zip_cache *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->max_entries = max_entries;
    c->max_bytes = max_bytes;
    if (max_entries > 0 && (c->e = calloc(max_entries, sizeof(*c->e))) == NULL) {
        free(c);
        return NULL;
    }
    return c;
}

void cj_zip_cache_free(cj_zip_cache *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n; i++)
        free(c->e[i].blob);
    free(c->e);
    free(c);
}

void cj_zip_key_of(const void *zip, size_t len, cj_zip_key *k)
{
    unsigned int n = 0;
    if (EVP_Digest(zip, len, k->sha256, &n, EVP_sha256(), NULL) != 1 || n != sizeof(k->sha256))
        abort(); /* SHA-256 of memory cannot fail; a key that is not one must never be used */
}

static struct entry *lookup(cj_zip_cache *c, const cj_zip_key *k)
{
    for (size_t i = 0; i < c->n; i++)
        if (memcmp(&c->e[i].key, k, sizeof(*k)) == 0)
            return &c->e[i];
    return NULL;
}

static void drop(cj_zip_cache *c, struct entry *e)
{
    c->bytes -= e->len;
    free(e->blob);
    *e = c->e[--c->n];
    c->counts.evicted++;
}

/* Evicts the least recently used until `entries` more entries and `bytes`
 * more bytes fit; never keep (the one being filled: by key, since dropping
 * moves the last entry into the freed slot). */
static void make_room(cj_zip_cache *c, size_t entries, size_t bytes, const cj_zip_key *keep)
{
    while (c->n > 0 && (c->n + entries > c->max_entries || c->bytes + bytes > c->max_bytes)) {
        struct entry *old = NULL;
        for (size_t i = 0; i < c->n; i++)
            if ((keep == NULL || memcmp(&c->e[i].key, keep, sizeof(*keep)) != 0) &&
                (old == NULL || c->e[i].used < old->used))
                old = &c->e[i];
        if (old == NULL)
            return;
        drop(c, old);
    }
}

enum cj_zip_state cj_zip_cache_find(cj_zip_cache *c, const cj_zip_key *k, const void **blob, size_t *len)
{
    struct entry *e = lookup(c, k);
    if (e == NULL || e->state != CJ_ZIP_READY) {
        c->counts.misses++;
        return e == NULL ? CJ_ZIP_ABSENT : e->state;
    }
    c->counts.hits++;
    e->used = ++c->clock;
    *blob = e->blob;
    *len = e->len;
    return CJ_ZIP_READY;
}

int cj_zip_cache_begin(cj_zip_cache *c, const cj_zip_key *k)
{
    if (c->max_entries == 0)
        return -1;
    struct entry *e = lookup(c, k);
    if (e == NULL) {
        make_room(c, 1, 0, NULL);
        e = &c->e[c->n++];
        memset(e, 0, sizeof(*e));
        e->key = *k;
    }
    e->state = CJ_ZIP_COMPILING;
    e->used = ++c->clock;
    return 0;
}

void cj_zip_cache_end(cj_zip_cache *c, const cj_zip_key *k, const void *blob, size_t len)
{
    struct entry *e = lookup(c, k);
    if (e == NULL || e->state != CJ_ZIP_COMPILING)
        return;
    if (blob == NULL || len > c->max_bytes || (e->blob = malloc(len > 0 ? len : 1)) == NULL) {
        e->state = CJ_ZIP_UNUSABLE;
        c->counts.unusable++;
        return;
    }
    memcpy(e->blob, blob, len);
    make_room(c, 0, len, k);
    e = lookup(c, k); /* dropping others may have moved it */
    e->len = len;
    c->bytes += len;
    e->state = CJ_ZIP_READY;
    c->counts.compiled++;
}

void cj_zip_cache_forget(cj_zip_cache *c, const cj_zip_key *k)
{
    struct entry *e = lookup(c, k);
    if (e != NULL) {
        drop(c, e);
        c->counts.evicted--; /* not an eviction */
    }
}

size_t cj_zip_cache_max_blob(const cj_zip_cache *c)
{
    return c->max_bytes;
}

void cj_zip_cache_stats_get(const cj_zip_cache *c, cj_zip_cache_stats *s)
{
    *s = c->counts;
    s->entries = c->n;
    s->bytes = c->bytes;
}
