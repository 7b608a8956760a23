/* h2o answers some errors itself (404 for unknown paths, 413 for bodies over
 * the cap, 400 for broken HTTP) with text/plain bodies.  This filter turns
 * them into the JSON every caller of this service expects, and logs the
 * requests refused for their framing (framing.h) with log. */
#ifndef CJ_JSON_ERRORS_H
#define CJ_JSON_ERRORS_H

#include <h2o.h>

struct cj_log;
void cj_json_errors_register(h2o_pathconf_t *pathconf, const struct cj_log *log);

#endif
