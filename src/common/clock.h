/*
 * clock.h — the one clock of revmq.
 *
 * Monotonic time (CLOCK_MONOTONIC) for every timeout, interval, rate limit
 * and latency; wall-clock time (CLOCK_REALTIME) only where a time is shown to
 * a person or compared with a certificate's, CRL's or OCSP response's dates.
 * Never mix the two in one computation.
 *
 * Thread-safe, no state, no failure (clock_gettime on these clocks cannot
 * fail on Linux).
 */
#ifndef RMQ_CLOCK_H
#define RMQ_CLOCK_H

#include <stdint.h>

/* Monotonic milliseconds since an arbitrary start (boot). */
uint64_t rmq_clock_mono_ms(void);
/* Monotonic microseconds since the same start. */
uint64_t rmq_clock_mono_us(void);
/* Wall-clock milliseconds since the Unix epoch. */
int64_t rmq_clock_real_ms(void);

#endif /* RMQ_CLOCK_H */
