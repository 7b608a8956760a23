/* python_lib.zip's modules compiled once: the bytecode of each distinct
 * zip (by the SHA-256 of its bytes; one interpreter per service), kept in
 * memory, least recently used first out, bounded in entries and bytes.
 * The bytecode comes only from a compile run of that same zip (the
 * sandbox's wrapper compiles it before, and instead of, any request's
 * code: jailed_code.py), so what one course uploads can only ever reach
 * executions of the very same bytes. */
#ifndef CJ_ZIP_CACHE_H
#define CJ_ZIP_CACHE_H

#include <stddef.h>

typedef struct cj_zip_cache cj_zip_cache;

typedef struct cj_zip_key {
    unsigned char sha256[32];
} cj_zip_key;

enum cj_zip_state {
    CJ_ZIP_ABSENT,    /* never seen, or evicted */
    CJ_ZIP_COMPILING, /* a compile run is under way */
    CJ_ZIP_READY,     /* its bytecode is here */
    CJ_ZIP_UNUSABLE,  /* its compile run failed: executions compile as without a cache */
};

typedef struct cj_zip_cache_stats {
    size_t entries, bytes;
    unsigned long long hits, misses, compiled, unusable, evicted;
} cj_zip_cache_stats;

/* max_entries 0: a cache that keeps nothing (every lookup is ABSENT). */
cj_zip_cache *cj_zip_cache_new(size_t max_entries, size_t max_bytes);
void cj_zip_cache_free(cj_zip_cache *c);

void cj_zip_key_of(const void *zip, size_t len, cj_zip_key *k);

/* Looks the zip up (READY: *blob and *len point at its bytecode, valid
 * until the next call that changes the cache; a hit makes it the most
 * recently used).  Counts a hit or a miss. */
enum cj_zip_state cj_zip_cache_find(cj_zip_cache *c, const cj_zip_key *k, const void **blob, size_t *len);
/* Records that a compile run of it started: 0, or -1 when nothing can be
 * kept (out of memory, or a cache of no entries). */
int cj_zip_cache_begin(cj_zip_cache *c, const cj_zip_key *k);
/* The compile run ended: keeps a copy of blob (NULL: it failed), evicting
 * the least recently used to fit; one larger than max_bytes is UNUSABLE.
 * An entry evicted meanwhile is not made again. */
void cj_zip_cache_end(cj_zip_cache *c, const cj_zip_key *k, const void *blob, size_t len);
/* Forgets it (a compile run that could not run: a later one may). */
void cj_zip_cache_forget(cj_zip_cache *c, const cj_zip_key *k);
/* The largest bytecode it would keep: the compile run's output bound. */
size_t cj_zip_cache_max_blob(const cj_zip_cache *c);
void cj_zip_cache_stats_get(const cj_zip_cache *c, cj_zip_cache_stats *s);

#endif
