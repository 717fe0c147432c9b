/* clock.c — the one clock; see clock.h. */
#include "common/clock.h"

#include <time.h>

uint64_t rmq_clock_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t rmq_clock_mono_ms(void)
{
    return rmq_clock_mono_us() / 1000u;
}

int64_t rmq_clock_real_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
