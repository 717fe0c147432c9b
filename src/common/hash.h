/*
 * hash.h — the one hash function of revmq for in-memory tables: SipHash-2-4
 * keyed with a random per-process key.
 *
 * What it is for: hash tables whose keys a peer chooses (MQTT client ids,
 * topic levels, certificate serials). With a secret random key a peer cannot
 * precompute colliding keys to turn a table into a list (hash flooding).
 * What it is not: a cryptographic digest or a stable value — it changes from
 * one process to the next; never store it or send it.
 *
 * The key comes from getrandom(2) on first use (pthread_once): thread-safe,
 * any thread may call. Without randomness the process cannot run safely and
 * aborts with a message (getrandom blocks until the pool is ready; it only
 * fails on kernels before 3.17).
 */
#ifndef RMQ_HASH_H
#define RMQ_HASH_H

#include <stddef.h>
#include <stdint.h>

/* SipHash-2-4 of p[0..len) under this process's random key. */
uint64_t rmq_hash(const void *p, size_t len);

/* SipHash-2-4 under an explicit 16-byte key (tests, reference vectors). */
uint64_t rmq_siphash24(const uint8_t key[16], const void *p, size_t len);

#endif
