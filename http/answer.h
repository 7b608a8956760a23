/* The answer's globals_dict, whatever the sandbox's result channel holds.
 * The code runs in the same interpreter as the wrapper, so it can write its
 * own result (fd 3) and leave before the wrapper does: the service, not the
 * wrapper, is what makes the answer what the contract says. */
#ifndef CJ_ANSWER_H
#define CJ_ANSWER_H

#include <stddef.h>

/* FAILED: out of memory, or an input that is not a valid object (the
 * payload parser's job, so a bug). */
enum cj_answer_status { CJ_ANSWER_OK = 0, CJ_ANSWER_CORRUPT = 1, CJ_ANSWER_FAILED = 2 };

/* Writes (malloc) the input globals updated with the result, as the codejail
 * library's `globals_dict.update(json.loads(result))` would see them: the
 * result must be one JSON object (else CJ_ANSWER_CORRUPT); in it and at
 * every depth a repeated key keeps its first position and its last value,
 * as a Python dict built by json.loads does; a result entry whose key or
 * value holds a lone surrogate (no UTF-8 form, so the contract's json_safe
 * rule drops it) is dropped, leaving the input's value.  result == NULL: the
 * input globals alone, repeats resolved the same way.  input is the
 * payload's validated globals_dict.  Scalars are copied as written, so
 * numbers pass exactly; containers are written as Python's json.dumps does
 * (", " and ": "). */
enum cj_answer_status cj_answer_globals(const char *input, size_t input_len, const char *result,
                                        size_t result_len, char **out, size_t *out_len);

#endif
