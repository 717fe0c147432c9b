/* version.h — the version of revmq and its tools (revmq --version). */
#ifndef RMQ_VERSION_H
#define RMQ_VERSION_H

#define RMQ_VERSION "0.1.0"

#endif
