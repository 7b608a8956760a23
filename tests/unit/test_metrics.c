/* The exposition of the per-execution figures: a figure the cgroup did not
 * give is no observation (not a zero), buckets are cumulative and named by
 * exact bounds, and OOM kills add up. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "metrics.h"

#define MiB (1024LL * 1024)

static int has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)) != NULL; p += n)
        if ((p == text || p[-1] == '\n') && p[n] == '\n')
            return 1;
    fprintf(stderr, "no line: %s\n", line);
    return 0;
}

int main(void)
{
    CHECK_INIT;
    cj_metrics *m = calloc(1, sizeof(*m));
    cj_metrics_execution(m, &(cj_metrics_exec){.path = CJ_METRICS_COLD, .outcome = CJ_OUTCOME_OK, .seconds = 0.003,
                                               .cpu_ns = 2000000, .peak_bytes = 5 * MiB, .oom_kills = 0});
    /* The OOM killer's, on a kernel that gave neither figure. */
    cj_metrics_execution(m, &(cj_metrics_exec){.path = CJ_METRICS_WARM, .outcome = CJ_OUTCOME_MEMORY,
                                               .seconds = 0.2, .cpu_ns = -1, .peak_bytes = -1, .oom_kills = 2});
    cj_metrics_now now = {.version = "t", .apparmor = "off", .cgroup = "v1"};
    size_t len = 0;
    char *text = cj_metrics_render(m, &now, &len);
    CHECK(text != NULL && strlen(text) == len);
    if (text == NULL)
        return CHECK_DONE();
    CHECK(has_line(text, "# TYPE codejail_execution_cpu_seconds histogram"));
    CHECK(has_line(text, "# TYPE codejail_execution_peak_memory_bytes histogram"));
    CHECK(has_line(text, "codejail_execution_cpu_seconds_bucket{path=\"cold\",le=\"0.001\"} 0"));
    CHECK(has_line(text, "codejail_execution_cpu_seconds_bucket{path=\"cold\",le=\"0.0025\"} 1"));
    CHECK(has_line(text, "codejail_execution_cpu_seconds_bucket{path=\"cold\",le=\"+Inf\"} 1"));
    CHECK(has_line(text, "codejail_execution_cpu_seconds_sum{path=\"cold\"} 0.002000"));
    CHECK(has_line(text, "codejail_execution_cpu_seconds_count{path=\"cold\"} 1"));
    CHECK(has_line(text, "codejail_execution_peak_memory_bytes_bucket{path=\"cold\",le=\"4194304\"} 0"));
    CHECK(has_line(text, "codejail_execution_peak_memory_bytes_bucket{path=\"cold\",le=\"8388608\"} 1"));
    CHECK(has_line(text, "codejail_execution_peak_memory_bytes_bucket{path=\"cold\",le=\"4294967296\"} 1"));
    CHECK(has_line(text, "codejail_execution_peak_memory_bytes_sum{path=\"cold\"} 5242880.000000"));
    /* Not read: counted as an execution, not observed as a zero. */
    CHECK(has_line(text, "codejail_execution_cpu_seconds_count{path=\"warm\"} 0"));
    CHECK(has_line(text, "codejail_execution_peak_memory_bytes_count{path=\"warm\"} 0"));
    CHECK(has_line(text, "codejail_execution_duration_seconds_count{path=\"warm\"} 1"));
    CHECK(has_line(text, "codejail_executions_total{path=\"warm\",outcome=\"memory\"} 1"));
    CHECK(has_line(text, "codejail_oom_kills_total 2"));
    CHECK_STR(cj_outcome_name(CJ_OUTCOME_CLIENT_GONE), "client_gone");
    CHECK_STR(cj_metrics_path_name(CJ_METRICS_WARM), "warm");
    free(text);
    free(m);
    return CHECK_DONE();
}
