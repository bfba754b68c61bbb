/* Progress of the long-running commands (search, train): a bar on a terminal,
 * plain lines elsewhere, log lines in between; and Ctrl-C as a request to
 * checkpoint and stop. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"

static volatile int g_interrupt;
static void on_sigint(int sig) {
    (void)sig;
    g_interrupt = 1;
}

volatile int *cli_interrupt_flag(void) { return &g_interrupt; }

/* SIGTERM and SIGUSR1 too: mpirun turns Ctrl-C into SIGTERM to every rank (then SIGKILL a few
 * seconds later) and passes SIGUSR1 on; batch schedulers send SIGTERM before they kill. */
void cli_catch_sigint(int on) {
    const int sigs[] = {SIGINT, SIGTERM, SIGUSR1};
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++) signal(sigs[i], on ? on_sigint : SIG_DFL);
}

static double wall(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void fmt_time(double s, char *buf, size_t len) {
    if (!(s >= 0) || s > 1e7) snprintf(buf, len, "?");
    else if (s >= 3600) snprintf(buf, len, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
    else snprintf(buf, len, "%dm%02ds", (int)(s / 60), (int)s % 60);
}

static void on_log(void *user, const char *line) {
    cli_progress *p = user;
    if (p->tty && p->bar_shown) fputs("\r\033[K", stderr);
    p->bar_shown = 0;
    fprintf(stderr, "%s\n", line);
}

/* A bar on a terminal; elsewhere a plain line at most every 30 s (and at the end of a phase). */
static void on_progress(void *user, const char *phase, int64_t step, int64_t total, double loss, double ips,
                        double eta) {
    cli_progress *p = user;
    double t = wall();
    char eta_s[32];
    fmt_time(eta, eta_s, sizeof eta_s);
    if (p->tty) {
        if (t - p->last_print < 0.1 && step < total) return;
        int width = 30, fill = total ? (int)(width * step / total) : 0;
        char bar[64];
        for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
        bar[width] = 0;
        fprintf(stderr, "\r\033[K%-5s [%s] %lld/%lld  loss %.4f  %.0f img/s  ETA %s", phase, bar, (long long)step,
                (long long)total, loss, ips, eta_s);
        p->bar_shown = 1;
    } else {
        if (t - p->last_print < 30 && step < total) return;
        fprintf(stderr, "%s step %lld/%lld loss %.4f %.0f img/s eta %s\n", phase, (long long)step, (long long)total,
                loss, ips, eta_s);
    }
    p->last_print = t;
}

rd_search_observer cli_progress_start(cli_progress *p) {
    memset(p, 0, sizeof *p);
    p->tty = isatty(STDERR_FILENO);
    rd_search_observer o = {p, on_log, on_progress};
    if (rd_comm_rank(cli_comm()) != 0) { /* one writer: the other ranks of a job report only errors */
        o.log = NULL;
        o.progress = NULL;
    }
    return o;
}

void cli_progress_end(cli_progress *p) {
    if (p->tty && p->bar_shown) fputs("\r\033[K", stderr);
    p->bar_shown = 0;
}
