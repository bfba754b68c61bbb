/* Numbers in files and messages are written and read in the C locale ('.' as
 * the decimal point) whatever locale the host program set: a program that
 * calls setlocale(LC_ALL, "") in a German locale would otherwise write
 * "lr = 0,025" into a recipe that no one can read back, and read "0.5" as 0.
 * Library entry points that format or parse numbers switch the calling thread
 * to the C locale for the call (uselocale: per thread, nests, no global state). */
#ifndef RADARS_C_LOCALE_H
#define RADARS_C_LOCALE_H

#include <locale.h>

/* The C locale object (made once); (locale_t)0 when it cannot be made (then nothing switches). */
locale_t rd_c_locale(void);

/* RD_C_LOCALE_BEGIN; ... RD_C_LOCALE_END; in one scope: the calling thread runs in the C locale between. */
#define RD_C_LOCALE_BEGIN locale_t rd_saved_locale_ = rd_c_locale() ? uselocale(rd_c_locale()) : (locale_t)0
#define RD_C_LOCALE_END                              \
    do {                                             \
        if (rd_saved_locale_) uselocale(rd_saved_locale_); \
    } while (0)

#endif
