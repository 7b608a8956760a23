/* The python_lib.zip bytecode cache: keyed by content, least recently used
 * out first, bounded in entries and bytes, a compile run's outcome kept or
 * forgotten as zip_cache.h says. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "zip_cache.h"

static cj_zip_key key(const char *zip)
{
    cj_zip_key k;
    cj_zip_key_of(zip, strlen(zip), &k);
    return k;
}

static enum cj_zip_state find(cj_zip_cache *c, const char *zip, const char **blob)
{
    const void *b = NULL;
    size_t len = 0;
    cj_zip_key k = key(zip);
    enum cj_zip_state s = cj_zip_cache_find(c, &k, &b, &len);
    *blob = s == CJ_ZIP_READY ? b : NULL;
    return s;
}

static void fill(cj_zip_cache *c, const char *zip, const char *blob)
{
    cj_zip_key k = key(zip);
    cj_zip_cache_begin(c, &k);
    cj_zip_cache_end(c, &k, blob, blob == NULL ? 0 : strlen(blob) + 1);
}

int main(void)
{
    CHECK_INIT;
    const char *b = NULL;
    cj_zip_cache_stats st;

    /* The key is the content's SHA-256: equal bytes, equal keys. */
    cj_zip_key k1 = key("abc"), k2 = key("abc"), k3 = key("abd");
    static const unsigned char SHA_ABC[4] = {0xba, 0x78, 0x16, 0xbf};
    CHECK(memcmp(&k1, &k2, sizeof(k1)) == 0 && memcmp(&k1, &k3, sizeof(k1)) != 0);
    CHECK(memcmp(k1.sha256, SHA_ABC, sizeof(SHA_ABC)) == 0);

    cj_zip_cache *c = cj_zip_cache_new(2, 100);
    CHECK(c != NULL && cj_zip_cache_max_blob(c) == 100);
    CHECK(find(c, "zip-a", &b) == CJ_ZIP_ABSENT);
    cj_zip_key ka = key("zip-a");
    CHECK(cj_zip_cache_begin(c, &ka) == 0);
    CHECK(find(c, "zip-a", &b) == CJ_ZIP_COMPILING);
    cj_zip_cache_end(c, &ka, "code-a", 7);
    CHECK(find(c, "zip-a", &b) == CJ_ZIP_READY && b != NULL && strcmp(b, "code-a") == 0);
    /* An end without its begin (evicted meanwhile) keeps nothing. */
    cj_zip_key kx = key("zip-x");
    cj_zip_cache_end(c, &kx, "code-x", 7);
    CHECK(find(c, "zip-x", &b) == CJ_ZIP_ABSENT);

    /* Entries: the least recently used goes first; a hit counts as a use. */
    fill(c, "zip-b", "code-b");
    CHECK(find(c, "zip-a", &b) == CJ_ZIP_READY); /* a is now more recent than b */
    fill(c, "zip-c", "code-c");
    CHECK(find(c, "zip-b", &b) == CJ_ZIP_ABSENT);
    CHECK(find(c, "zip-a", &b) == CJ_ZIP_READY && strcmp(b, "code-a") == 0);
    CHECK(find(c, "zip-c", &b) == CJ_ZIP_READY && strcmp(b, "code-c") == 0);
    cj_zip_cache_stats_get(c, &st);
    CHECK(st.entries == 2 && st.bytes == 14 && st.evicted == 1 && st.compiled == 3);

    /* Bytes: keeping a large one evicts others, never itself. */
    char big[90];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    fill(c, "zip-big", big);
    CHECK(find(c, "zip-big", &b) == CJ_ZIP_READY && strcmp(b, big) == 0);
    cj_zip_cache_stats_get(c, &st);
    CHECK(st.bytes == 7 + sizeof(big) && st.entries == 2); /* a, the least recent, made room */
    CHECK(find(c, "zip-a", &b) == CJ_ZIP_ABSENT && find(c, "zip-c", &b) == CJ_ZIP_READY);
    /* Larger than the whole cache: unusable (its slot took the least recent
     * entry's place when its compile run began; no bytes were evicted for it). */
    char huge[120];
    memset(huge, 'y', sizeof(huge) - 1);
    huge[sizeof(huge) - 1] = '\0';
    fill(c, "zip-huge", huge);
    CHECK(find(c, "zip-huge", &b) == CJ_ZIP_UNUSABLE);
    CHECK(find(c, "zip-c", &b) == CJ_ZIP_READY && find(c, "zip-big", &b) == CJ_ZIP_ABSENT);
    /* A failed compile run: unusable; a run that could not run: forgotten. */
    fill(c, "zip-bad", NULL);
    CHECK(find(c, "zip-bad", &b) == CJ_ZIP_UNUSABLE);
    cj_zip_key kf = key("zip-f");
    CHECK(cj_zip_cache_begin(c, &kf) == 0);
    cj_zip_cache_forget(c, &kf);
    CHECK(find(c, "zip-f", &b) == CJ_ZIP_ABSENT);
    cj_zip_cache_stats_get(c, &st);
    CHECK(st.unusable == 2 && st.hits > 0 && st.misses > 0);
    cj_zip_cache_free(c);

    /* No entries: nothing is ever kept. */
    c = cj_zip_cache_new(0, 100);
    cj_zip_key k0 = key("zip-0");
    CHECK(c != NULL && cj_zip_cache_begin(c, &k0) < 0 && find(c, "zip-0", &b) == CJ_ZIP_ABSENT);
    cj_zip_cache_free(c);
    return CHECK_DONE();
}
