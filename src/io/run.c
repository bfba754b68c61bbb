/* What every long run (a search, a training) shares: log lines through its
 * observer and the rule for stopping at a step boundary. */
#include <stdarg.h>
#include <stdio.h>

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
