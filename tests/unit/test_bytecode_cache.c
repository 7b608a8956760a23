/* The python_lib.zip bytecode cache: keyed by content, least recently used
 * out first, bounded in entries and bytes, a compile run's outcome kept or
 * forgotten as bytecode_cache.h says. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "bytecode_cache.h"

static cj_bytecode_key key(const char *zip)
{
    cj_bytecode_key k;
    cj_bytecode_key_of(CJ_BC_ZIP, zip, strlen(zip), &k);
    return k;
}

static enum cj_bytecode_state find(cj_bytecode_cache *c, const char *zip, const char **blob)
{
    const void *b = NULL;
    size_t len = 0;
    cj_bytecode_key k = key(zip);
    enum cj_bytecode_state s = cj_bytecode_cache_find(c, &k, &b, &len);
    *blob = s == CJ_BC_READY ? b : NULL;
    return s;
}

static void fill(cj_bytecode_cache *c, const char *zip, const char *blob)
{
    cj_bytecode_key k = key(zip);
    cj_bytecode_cache_begin(c, &k);
    cj_bytecode_cache_end(c, &k, blob, blob == NULL ? 0 : strlen(blob) + 1);
}

int main(void)
{
    CHECK_INIT;
    const char *b = NULL;
    cj_bytecode_cache_stats st;

    /* The key is the kind and the bytes' SHA-256: equal bytes of one kind,
     * equal keys; a zip and a code text of the same bytes differ. */
    cj_bytecode_key k1 = key("abc"), k2 = key("abc"), k3 = key("abd"), kc;
    cj_bytecode_key_of(CJ_BC_CODE, "abc", 3, &kc);
    /* SHA-256 of a NUL and "abc" is 609f6e36..., its first byte replaced by the kind */
    static const unsigned char SHA_ZIP_ABC[4] = {CJ_BC_ZIP, 0x9f, 0x6e, 0x36};
    CHECK(memcmp(&k1, &k2, sizeof(k1)) == 0 && memcmp(&k1, &k3, sizeof(k1)) != 0 && memcmp(&k1, &kc, sizeof(k1)) != 0);
    CHECK(memcmp(k1.sha256, SHA_ZIP_ABC, sizeof(SHA_ZIP_ABC)) == 0 && kc.sha256[0] == CJ_BC_CODE);

    cj_bytecode_cache *c = cj_bytecode_cache_new(2, 100);
    CHECK(c != NULL && cj_bytecode_cache_max_blob(c) == 100);
    CHECK(find(c, "zip-a", &b) == CJ_BC_ABSENT);
    cj_bytecode_key ka = key("zip-a");
    CHECK(cj_bytecode_cache_begin(c, &ka) == 0);
    CHECK(find(c, "zip-a", &b) == CJ_BC_COMPILING);
    cj_bytecode_cache_end(c, &ka, "code-a", 7);
    CHECK(find(c, "zip-a", &b) == CJ_BC_READY && b != NULL && strcmp(b, "code-a") == 0);
    /* An end without its begin (evicted meanwhile) keeps nothing. */
    cj_bytecode_key kx = key("zip-x");
    cj_bytecode_cache_end(c, &kx, "code-x", 7);
    CHECK(find(c, "zip-x", &b) == CJ_BC_ABSENT);

    /* Entries: the least recently used goes first; a hit counts as a use. */
    fill(c, "zip-b", "code-b");
    CHECK(find(c, "zip-a", &b) == CJ_BC_READY); /* a is now more recent than b */
    fill(c, "zip-c", "code-c");
    CHECK(find(c, "zip-b", &b) == CJ_BC_ABSENT);
    CHECK(find(c, "zip-a", &b) == CJ_BC_READY && strcmp(b, "code-a") == 0);
    CHECK(find(c, "zip-c", &b) == CJ_BC_READY && strcmp(b, "code-c") == 0);
    cj_bytecode_cache_stats_get(c, &st);
    CHECK(st.entries == 2 && st.bytes == 14 && st.evicted == 1 && st.kind[CJ_BC_ZIP].compiled == 3);

    /* Bytes: keeping a large one evicts others, never itself. */
    char big[90];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    fill(c, "zip-big", big);
    CHECK(find(c, "zip-big", &b) == CJ_BC_READY && strcmp(b, big) == 0);
    cj_bytecode_cache_stats_get(c, &st);
    CHECK(st.bytes == 7 + sizeof(big) && st.entries == 2); /* a, the least recent, made room */
    CHECK(find(c, "zip-a", &b) == CJ_BC_ABSENT && find(c, "zip-c", &b) == CJ_BC_READY);
    /* Larger than the whole cache: unusable (its slot took the least recent
     * entry's place when its compile run began; no bytes were evicted for it). */
    char huge[120];
    memset(huge, 'y', sizeof(huge) - 1);
    huge[sizeof(huge) - 1] = '\0';
    fill(c, "zip-huge", huge);
    CHECK(find(c, "zip-huge", &b) == CJ_BC_UNUSABLE);
    CHECK(find(c, "zip-c", &b) == CJ_BC_READY && find(c, "zip-big", &b) == CJ_BC_ABSENT);
    /* Seen once: a miss that stays until its compile run begins. */
    CHECK(cj_bytecode_cache_seen(c, &kc) == 0);
    const void *bp = NULL;
    size_t bl = 0;
    CHECK(cj_bytecode_cache_find(c, &kc, &bp, &bl) == CJ_BC_SEEN && cj_bytecode_cache_begin(c, &kc) == 0);
    CHECK(cj_bytecode_cache_find(c, &kc, &bp, &bl) == CJ_BC_COMPILING);
    cj_bytecode_cache_forget(c, &kc);
    /* A failed compile run: unusable; a run that could not run: forgotten. */
    fill(c, "zip-bad", NULL);
    CHECK(find(c, "zip-bad", &b) == CJ_BC_UNUSABLE);
    cj_bytecode_key kf = key("zip-f");
    CHECK(cj_bytecode_cache_begin(c, &kf) == 0);
    cj_bytecode_cache_forget(c, &kf);
    CHECK(find(c, "zip-f", &b) == CJ_BC_ABSENT);
    cj_bytecode_cache_stats_get(c, &st);
    CHECK(st.kind[CJ_BC_ZIP].unusable == 2 && st.kind[CJ_BC_ZIP].hits > 0 && st.kind[CJ_BC_ZIP].misses > 0);
    CHECK(st.kind[CJ_BC_CODE].hits == 0 && st.kind[CJ_BC_CODE].compiled == 0);
    cj_bytecode_cache_free(c);

    /* Sightings go before bytecode, however recent. */
    c = cj_bytecode_cache_new(2, 100);
    fill(c, "zip-a", "code-a");
    cj_bytecode_key ks1, ks2;
    cj_bytecode_key_of(CJ_BC_CODE, "once-1", 6, &ks1);
    cj_bytecode_key_of(CJ_BC_CODE, "once-2", 6, &ks2);
    CHECK(cj_bytecode_cache_seen(c, &ks1) == 0 && cj_bytecode_cache_seen(c, &ks2) == 0);
    CHECK(find(c, "zip-a", &b) == CJ_BC_READY && cj_bytecode_cache_find(c, &ks1, &bp, &bl) == CJ_BC_ABSENT);
    cj_bytecode_cache_free(c);

    /* No entries: nothing is ever kept. */
    c = cj_bytecode_cache_new(0, 100);
    cj_bytecode_key k0 = key("zip-0");
    CHECK(c != NULL && cj_bytecode_cache_begin(c, &k0) < 0 && find(c, "zip-0", &b) == CJ_BC_ABSENT);
    cj_bytecode_cache_free(c);
    return CHECK_DONE();
}
