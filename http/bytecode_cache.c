#include "bytecode_cache.h"

#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A few hundred entries at most: a linear scan of 32-byte keys costs
 * microseconds, far below the execution it serves. */
struct entry {
    cj_bytecode_key key;
    enum cj_bytecode_kind kind;
    enum cj_bytecode_state state;
    unsigned char *blob;
    size_t len;
    uint64_t used; /* the cache's clock at its last use */
};

struct cj_bytecode_cache {
    struct entry *e;
    size_t n, max_entries, max_bytes, bytes;
    uint64_t clock;
    cj_bytecode_cache_stats counts;
};

cj_bytecode_cache *cj_bytecode_cache_new(size_t max_entries, size_t max_bytes)
{
    cj_bytecode_cache *c = calloc(1, sizeof(*c));
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

void cj_bytecode_cache_free(cj_bytecode_cache *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n; i++)
        free(c->e[i].blob);
    free(c->e);
    free(c);
}

/* The kind is the key's first byte too, so that a zip and a code text of
 * equal bytes are different entries. */
void cj_bytecode_key_of(enum cj_bytecode_kind kind, const void *data, size_t len, cj_bytecode_key *k)
{
    unsigned char tag = (unsigned char)kind;
    unsigned int n = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    /* SHA-256 of memory fails only without memory; a key that is not one must never be used. */
    if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 || EVP_DigestUpdate(ctx, &tag, 1) != 1 ||
        EVP_DigestUpdate(ctx, data, len) != 1 || EVP_DigestFinal_ex(ctx, k->sha256, &n) != 1 ||
        n != sizeof(k->sha256))
        abort();
    EVP_MD_CTX_free(ctx);
    k->sha256[0] = tag; /* the entry's kind, read back from its key; 31 bytes of SHA-256 stay */
}

static struct entry *lookup(cj_bytecode_cache *c, const cj_bytecode_key *k)
{
    for (size_t i = 0; i < c->n; i++)
        if (memcmp(&c->e[i].key, k, sizeof(*k)) == 0)
            return &c->e[i];
    return NULL;
}

static void drop(cj_bytecode_cache *c, struct entry *e)
{
    c->bytes -= e->len;
    free(e->blob);
    *e = c->e[--c->n];
    c->counts.evicted++;
}

/* Evicts the least recently used (of the cheap ones first) until `entries`
 * more entries and `bytes` more bytes fit; never keep (the one being filled: by key, since dropping
 * moves the last entry into the freed slot). */
/* Bytecode, made or being made, is dearer to lose than a sighting or a
 * failure: a stream of code sent once each must not flush the course
 * libraries out. */
static int dear(const struct entry *e)
{
    return e->state == CJ_BC_READY || e->state == CJ_BC_COMPILING;
}

static void make_room(cj_bytecode_cache *c, size_t entries, size_t bytes, const cj_bytecode_key *keep)
{
    while (c->n > 0 && (c->n + entries > c->max_entries || c->bytes + bytes > c->max_bytes)) {
        struct entry *old = NULL;
        for (size_t i = 0; i < c->n; i++)
            if ((keep == NULL || memcmp(&c->e[i].key, keep, sizeof(*keep)) != 0) &&
                (old == NULL || dear(&c->e[i]) < dear(old) ||
                 (dear(&c->e[i]) == dear(old) && c->e[i].used < old->used)))
                old = &c->e[i];
        if (old == NULL)
            return;
        drop(c, old);
    }
}

enum cj_bytecode_state cj_bytecode_cache_find(cj_bytecode_cache *c, const cj_bytecode_key *k, const void **blob, size_t *len)
{
    struct entry *e = lookup(c, k);
    enum cj_bytecode_kind kind = (enum cj_bytecode_kind)k->sha256[0];
    if (e == NULL || e->state != CJ_BC_READY) {
        c->counts.kind[kind].misses++;
        if (e != NULL && e->state == CJ_BC_SEEN)
            e->used = ++c->clock;
        return e == NULL ? CJ_BC_ABSENT : e->state;
    }
    c->counts.kind[kind].hits++;
    e->used = ++c->clock;
    *blob = e->blob;
    *len = e->len;
    return CJ_BC_READY;
}

static int mark(cj_bytecode_cache *c, const cj_bytecode_key *k, enum cj_bytecode_state state)
{
    if (c->max_entries == 0)
        return -1;
    struct entry *e = lookup(c, k);
    if (e == NULL) {
        make_room(c, 1, 0, NULL);
        e = &c->e[c->n++];
        memset(e, 0, sizeof(*e));
        e->key = *k;
        e->kind = (enum cj_bytecode_kind)k->sha256[0];
    }
    e->state = state;
    e->used = ++c->clock;
    return 0;
}

int cj_bytecode_cache_seen(cj_bytecode_cache *c, const cj_bytecode_key *k)
{
    return mark(c, k, CJ_BC_SEEN);
}

int cj_bytecode_cache_begin(cj_bytecode_cache *c, const cj_bytecode_key *k)
{
    return mark(c, k, CJ_BC_COMPILING);
}

void cj_bytecode_cache_end(cj_bytecode_cache *c, const cj_bytecode_key *k, const void *blob, size_t len)
{
    struct entry *e = lookup(c, k);
    if (e == NULL || e->state != CJ_BC_COMPILING)
        return;
    if (blob == NULL || len > c->max_bytes || (e->blob = malloc(len > 0 ? len : 1)) == NULL) {
        e->state = CJ_BC_UNUSABLE;
        c->counts.kind[e->kind].unusable++;
        return;
    }
    memcpy(e->blob, blob, len);
    make_room(c, 0, len, k);
    e = lookup(c, k); /* dropping others may have moved it */
    e->len = len;
    c->bytes += len;
    e->state = CJ_BC_READY;
    c->counts.kind[e->kind].compiled++;
}

void cj_bytecode_cache_forget(cj_bytecode_cache *c, const cj_bytecode_key *k)
{
    struct entry *e = lookup(c, k);
    if (e != NULL) {
        drop(c, e);
        c->counts.evicted--; /* not an eviction */
    }
}

size_t cj_bytecode_cache_max_blob(const cj_bytecode_cache *c)
{
    return c->max_bytes;
}

void cj_bytecode_cache_stats_get(const cj_bytecode_cache *c, cj_bytecode_cache_stats *s)
{
    *s = c->counts;
    s->entries = c->n;
    s->bytes = c->bytes;
}
