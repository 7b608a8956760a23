/* Course code compiled once: the bytecode of each distinct python_lib.zip
 * (its modules) and of each distinct code text sent again and again (a
 * problem script), by the SHA-256 of their bytes (one interpreter per
 * service), kept in memory, least recently used first out, bounded in
 * entries and bytes.  The bytecode comes only from a compile run of those
 * same bytes (the sandbox's wrapper compiles them and runs no code:
 * jailed_code.py), so what one course sends can only ever reach executions
 * of the very same bytes. */
#ifndef CJ_BYTECODE_CACHE_H
#define CJ_BYTECODE_CACHE_H

#include <stddef.h>

typedef struct cj_bytecode_cache cj_bytecode_cache;

enum cj_bytecode_kind { CJ_BC_ZIP, CJ_BC_CODE, CJ_BC_KINDS };

typedef struct cj_bytecode_key {
    unsigned char sha256[32]; /* of the kind, then the bytes */
} cj_bytecode_key;

enum cj_bytecode_state {
    CJ_BC_ABSENT,    /* never seen, or evicted */
    CJ_BC_SEEN,      /* seen once: its compile run starts when it comes again */
    CJ_BC_COMPILING, /* a compile run is under way */
    CJ_BC_READY,     /* its bytecode is here */
    CJ_BC_UNUSABLE,  /* its compile run failed: executions compile as without a cache */
};

typedef struct cj_bytecode_cache_stats {
    size_t entries, bytes;
    unsigned long long evicted;
    struct {
        unsigned long long hits, misses, compiled, unusable;
    } kind[CJ_BC_KINDS];
} cj_bytecode_cache_stats;

/* max_entries 0: a cache that keeps nothing (every lookup is ABSENT). */
cj_bytecode_cache *cj_bytecode_cache_new(size_t max_entries, size_t max_bytes);
void cj_bytecode_cache_free(cj_bytecode_cache *c);

void cj_bytecode_key_of(enum cj_bytecode_kind kind, const void *data, size_t len, cj_bytecode_key *k);

/* Looks it up (READY: *blob and *len point at its bytecode, valid until
 * the next call that changes the cache).  Counts a hit or a miss; a hit,
 * or SEEN, makes it the most recently used. */
enum cj_bytecode_state cj_bytecode_cache_find(cj_bytecode_cache *c, const cj_bytecode_key *k, const void **blob,
                                              size_t *len);
/* Records that it was seen (ABSENT -> SEEN): 0, or -1 when nothing can be kept. */
int cj_bytecode_cache_seen(cj_bytecode_cache *c, const cj_bytecode_key *k);
/* Records that a compile run of it started: 0, or -1 when nothing can be
 * kept (out of memory, or a cache of no entries). */
int cj_bytecode_cache_begin(cj_bytecode_cache *c, const cj_bytecode_key *k);
/* The compile run ended: keeps a copy of blob (NULL: it failed), evicting
 * the least recently used to fit; one larger than max_bytes is UNUSABLE.
 * An entry evicted meanwhile is not made again. */
void cj_bytecode_cache_end(cj_bytecode_cache *c, const cj_bytecode_key *k, const void *blob, size_t len);
/* Forgets it (a compile run that could not run: a later one may). */
void cj_bytecode_cache_forget(cj_bytecode_cache *c, const cj_bytecode_key *k);
/* The largest bytecode it would keep: a compile run's output bound. */
size_t cj_bytecode_cache_max_blob(const cj_bytecode_cache *c);
void cj_bytecode_cache_stats_get(const cj_bytecode_cache *c, cj_bytecode_cache_stats *s);

#endif
