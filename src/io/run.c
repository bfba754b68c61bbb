/* What every long run (a search, a training) shares: log lines through its
 * observer and the rule for stopping at a step boundary. */
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "radars/io.h"
#include "runtime/c_locale.h"

void rd_observer_say(const rd_search_observer *o, const char *fmt, ...) {
    if (!o->log) return;
    char line[1400];
    va_list ap;
    va_start(ap, fmt);
    RD_C_LOCALE_BEGIN;
    vsnprintf(line, sizeof line, fmt, ap);
    RD_C_LOCALE_END;
    va_end(ap);
    o->log(o->user, line);
}

int rd_run_should_stop(const volatile int *interrupt, int64_t stop_after, int64_t global_step) {
    return (interrupt && *interrupt) || (stop_after > 0 && global_step >= stop_after);
}

rd_status rd_run_should_stop_all(rd_comm *comm, const volatile int *interrupt, int64_t stop_after,
                                 int64_t global_step, int *stop, rd_err *err) {
    double votes = rd_run_should_stop(interrupt, stop_after, global_step);
    RD_TRY(rd_comm_sum_doubles(comm, &votes, 1, err));
    *stop = votes > 0;
    return RD_OK;
}

rd_status rd_run_resumes(rd_comm *comm, const char *ckpt, int asked, int *resume, rd_err *err) {
    int here = asked && access(ckpt, F_OK) == 0;
    *resume = here;
    RD_TRY(rd_comm_bcast(comm, resume, sizeof *resume, 0, err));
    if (*resume && !here)
        return rd_fail(err, RD_ERR_IO, "%s: rank %d cannot see the checkpoint rank 0 resumes from (every rank "
                       "reads the run directory: put it on a file system all of them share)", ckpt, rd_comm_rank(comm));
    return RD_OK;
}
