/*
 * authn.c — the authentication chain (load, SIGHUP reload, check) and the
 * failed-attempt slow-down per address. See authn.h.
 */
#include "auth/authn.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "auth/authn_int.h"
#include "common/hash.h"
#include "common/log.h"

#define THROTTLE_SLOTS 4096
#define THROTTLE_MAX_FACTOR 64

struct throttle_slot {
    char ip[48];
    uint32_t failures;
    uint64_t until;   /* ms: refuse without checking until then */
    uint64_t last;    /* ms of the last failure */
    uint32_t pending; /* checks in progress */
};

struct authn_entry {
    const struct rmq_authn_settings *cfg;
    struct rmq_userset *users; /* owned; swapped under mu */
};

struct rmq_authn_job {
    struct rmq_authn_job *next;
    rmq_authn_done_fn done;
    void *arg;
    bool cancelled;
    enum rmq_authn_result result;
    const char *why;
    bool superuser;
    struct rmq_authn_req req; /* its strings point into buf */
    char buf[];
};

struct jobq {
    struct rmq_authn_job *head;
    struct rmq_authn_job *tail;
};

struct rmq_authn {
    const struct rmq_settings *s;
    struct authn_entry *e;
    size_t n;
    size_t enabled;
    /* Protects e[i].users (replaced by reload, read by checks), the two job
     * queues, `stop` and the notify hook. */
    pthread_mutex_t mu;
    pthread_cond_t cv; /* a job was queued, or stop */
    struct jobq todo;
    struct jobq done;
    bool stop;
    bool thread_started;
    pthread_t thread;
    void (*notify)(void *);
    void *notify_arg;
    struct throttle_slot *slots; /* core thread only */
};

static void jobq_push(struct jobq *q, struct rmq_authn_job *j)
{
    j->next = NULL;
    if (q->tail) {
        q->tail->next = j;
    } else {
        q->head = j;
    }
    q->tail = j;
}

static struct rmq_authn_job *jobq_pop(struct jobq *q)
{
    struct rmq_authn_job *j = q->head;
    if (j) {
        q->head = j->next;
        if (!q->head) {
            q->tail = NULL;
        }
    }
    return j;
}

static void jobq_free(struct jobq *q)
{
    struct rmq_authn_job *j;
    while ((j = jobq_pop(q)) != NULL) {
        OPENSSL_cleanse(j->buf, j->req.username_len + j->req.clientid_len + j->req.password_len);
        free(j);
    }
}

static void *verifier_main(void *arg);

static const char *file_of(const struct rmq_authn_settings *c)
{
    return c->backend == RMQ_AUTHN_MOSQUITTO_PASSWD_FILE ? c->path : c->bootstrap_file;
}

rmq_err rmq_authn_new(const struct rmq_settings *s, struct rmq_authn **out, char **errmsg)
{
    *out = NULL;
    *errmsg = NULL;
    struct rmq_authn *a = calloc(1, sizeof *a);
    if (a == NULL || (a->e = calloc(s->authn_count + 1, sizeof *a->e)) == NULL ||
        (a->slots = calloc(THROTTLE_SLOTS, sizeof *a->slots)) == NULL) {
        rmq_authn_free(a);
        return RMQ_ERR_NOMEM;
    }
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cv, NULL);
    a->s = s;
    for (size_t i = 0; i < s->authn_count; i++) {
        const struct rmq_authn_settings *c = &s->authn[i];
        char why[512];
        a->e[a->n].cfg = c;
        if (!c->enable) {
            a->n++;
            continue;
        }
        if (rmq_authn_load_users(c, &a->e[a->n].users, why, sizeof why) != RMQ_OK) {
            if (asprintf(errmsg, "revmq: authentication.%s: %s", c->name, why) < 0) {
                *errmsg = NULL;
            }
            rmq_authn_free(a);
            return RMQ_ERR_CONFIG;
        }
        rmq_info("authn", "loaded authenticator=%s backend=%s users=%zu file=%s", c->name,
                 c->backend == RMQ_AUTHN_MOSQUITTO_PASSWD_FILE ? "mosquitto_passwd_file"
                                                               : "built_in_database",
                 a->e[a->n].users->count, file_of(c) ? file_of(c) : "-");
        a->n++;
        a->enabled++;
    }
    if (a->enabled > 0) {
        if (pthread_create(&a->thread, NULL, verifier_main, a) != 0) {
            rmq_authn_free(a);
            return RMQ_ERR_NOMEM;
        }
        a->thread_started = true;
    }
    *out = a;
    return RMQ_OK;
}

void rmq_authn_free(struct rmq_authn *a)
{
    if (a == NULL) {
        return;
    }
    if (a->thread_started) {
        pthread_mutex_lock(&a->mu);
        a->stop = true;
        pthread_cond_signal(&a->cv);
        pthread_mutex_unlock(&a->mu);
        pthread_join(a->thread, NULL);
    }
    jobq_free(&a->todo);
    jobq_free(&a->done);
    for (size_t i = 0; a->e && i < a->n; i++) {
        rmq_userset_free(a->e[i].users);
    }
    if (a->s) {
        pthread_cond_destroy(&a->cv);
        pthread_mutex_destroy(&a->mu);
    }
    free(a->e);
    free(a->slots);
    free(a);
}

bool rmq_authn_enabled(const struct rmq_authn *a)
{
    return a != NULL && a->enabled > 0;
}

rmq_err rmq_authn_reload(struct rmq_authn *a)
{
    rmq_err rc = RMQ_OK;
    for (size_t i = 0; a && i < a->n; i++) {
        const struct rmq_authn_settings *c = a->e[i].cfg;
        struct rmq_userset *set = NULL;
        char why[512];
        if (!c->enable) {
            continue;
        }
        if (rmq_authn_load_users(c, &set, why, sizeof why) != RMQ_OK) {
            rmq_warn("authn", "reload failed, previous users kept authenticator=%s error=%s",
                     c->name, why);
            rc = RMQ_ERR_CONFIG;
            continue;
        }
        pthread_mutex_lock(&a->mu);
        struct rmq_userset *old = a->e[i].users;
        a->e[i].users = set;
        pthread_mutex_unlock(&a->mu);
        rmq_userset_free(old);
        rmq_info("authn", "reloaded authenticator=%s users=%zu file=%s", c->name, set->count,
                 file_of(c) ? file_of(c) : "-");
    }
    return rc;
}

/* Copies the user's record (under the lock) so hashing runs without it. */
static bool lookup(struct rmq_authn *a, size_t i, const char *id, size_t len, struct rmq_user *out)
{
    pthread_mutex_lock(&a->mu);
    const struct rmq_user *u = rmq_userset_find(a->e[i].users, id, len);
    if (u != NULL) {
        *out = *u;
        out->id = NULL;
    }
    pthread_mutex_unlock(&a->mu);
    return u != NULL;
}

/* For an unknown user id: hash the password as a known user's would be (the
 * first user of the first enabled authenticator that has one), result unused. */
static void decoy_verify(struct rmq_authn *a, const struct rmq_authn_req *r)
{
    struct rmq_user u;
    bool found = false;
    pthread_mutex_lock(&a->mu);
    for (size_t i = 0; i < a->n && !found; i++) {
        const struct rmq_userset *set = a->e[i].users;
        if (a->e[i].cfg->enable && set != NULL && set->count > 0) {
            u = set->users[0];
            u.id = NULL;
            found = true;
        }
    }
    pthread_mutex_unlock(&a->mu);
    if (found) {
        (void)rmq_user_verify(&u, r->password, r->password_len);
    }
}

enum rmq_authn_result rmq_authn_check(struct rmq_authn *a, const struct rmq_authn_req *r,
                                      const char **why, bool *superuser)
{
    *why = "unknown user";
    if (superuser != NULL) {
        *superuser = false;
    }
    for (size_t i = 0; a && i < a->n; i++) {
        const struct rmq_authn_settings *c = a->e[i].cfg;
        if (!c->enable) {
            continue;
        }
        bool by_client = c->user_id_type == RMQ_AUTHN_ID_CLIENTID;
        const char *id = by_client ? r->clientid : r->username;
        size_t len = by_client ? r->clientid_len : r->username_len;
        struct rmq_user u;
        if (id == NULL || !lookup(a, i, id, len, &u)) {
            continue; /* EMQX: "ignore", the next authenticator decides */
        }
        if (r->password == NULL) {
            *why = "no password";
            return RMQ_AUTHN_DENY;
        }
        if (!rmq_user_verify(&u, r->password, r->password_len)) {
            *why = "wrong password";
            return RMQ_AUTHN_DENY;
        }
        *why = NULL;
        if (superuser != NULL) {
            *superuser = u.superuser;
        }
        return RMQ_AUTHN_ALLOW;
    }
    if (a != NULL) {
        decoy_verify(a, r);
    }
    return RMQ_AUTHN_UNKNOWN;
}

/* ---- asynchronous checks ----------------------------------------------------------------- */

static void *verifier_main(void *arg)
{
    struct rmq_authn *a = arg;
    pthread_mutex_lock(&a->mu);
    for (;;) {
        while (!a->stop && a->todo.head == NULL) {
            pthread_cond_wait(&a->cv, &a->mu);
        }
        if (a->stop) {
            break;
        }
        struct rmq_authn_job *j = jobq_pop(&a->todo);
        pthread_mutex_unlock(&a->mu);
        j->result = rmq_authn_check(a, &j->req, &j->why, &j->superuser); /* locks mu briefly */
        pthread_mutex_lock(&a->mu);
        jobq_push(&a->done, j);
        if (a->notify) {
            a->notify(a->notify_arg);
        }
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

/* Copies one request string into the job's buffer. */
static const char *put(char **at, const void *p, size_t n)
{
    if (p == NULL) {
        return NULL;
    }
    char *start = *at;
    memcpy(start, p, n);
    *at += n;
    return start;
}

struct rmq_authn_job *rmq_authn_start(struct rmq_authn *a, const struct rmq_authn_req *r,
                                      rmq_authn_done_fn done, void *arg)
{
    size_t n = r->username_len + r->clientid_len + r->password_len;
    struct rmq_authn_job *j = calloc(1, sizeof *j + n + 1);
    if (j == NULL) {
        return NULL;
    }
    char *at = j->buf;
    j->done = done;
    j->arg = arg;
    j->req = *r;
    j->req.username = put(&at, r->username, r->username_len);
    j->req.clientid = put(&at, r->clientid, r->clientid_len);
    j->req.password = (const uint8_t *)put(&at, r->password, r->password_len);
    pthread_mutex_lock(&a->mu);
    jobq_push(&a->todo, j);
    pthread_cond_signal(&a->cv);
    pthread_mutex_unlock(&a->mu);
    return j;
}

void rmq_authn_cancel(struct rmq_authn *a, struct rmq_authn_job *j)
{
    pthread_mutex_lock(&a->mu);
    j->cancelled = true; /* freed by rmq_authn_poll (or _free) */
    pthread_mutex_unlock(&a->mu);
}

void rmq_authn_poll(struct rmq_authn *a)
{
    if (a == NULL) {
        return;
    }
    pthread_mutex_lock(&a->mu);
    struct jobq q = a->done;
    a->done.head = a->done.tail = NULL;
    pthread_mutex_unlock(&a->mu);
    struct rmq_authn_job *j;
    while ((j = jobq_pop(&q)) != NULL) {
        pthread_mutex_lock(&a->mu);
        bool cancelled = j->cancelled;
        pthread_mutex_unlock(&a->mu);
        if (!cancelled) {
            j->done(j->arg, j->result, j->why, j->superuser);
        }
        OPENSSL_cleanse(j->buf, j->req.username_len + j->req.clientid_len + j->req.password_len);
        free(j);
    }
}

void rmq_authn_set_notify(struct rmq_authn *a, void (*notify)(void *), void *arg)
{
    if (a == NULL) {
        return;
    }
    pthread_mutex_lock(&a->mu);
    a->notify = notify;
    a->notify_arg = arg;
    pthread_mutex_unlock(&a->mu);
}

/* ---- failed-attempt slow-down ------------------------------------------------------------ */

static struct throttle_slot *slot_of(struct rmq_authn *a, const char *ip)
{
    /* Keyed: a client cannot pick addresses that share a slot on purpose. */
    return &a->slots[rmq_hash(ip, strlen(ip)) % THROTTLE_SLOTS];
}

uint64_t rmq_authn_throttle_left(struct rmq_authn *a, const char *ip, uint64_t now_ms)
{
    if (a == NULL || a->s->mqtt.authn_failure_delay == 0) {
        return 0;
    }
    struct throttle_slot *t = slot_of(a, ip);
    if (strcmp(t->ip, ip) != 0 || now_ms >= t->until) {
        return 0;
    }
    return t->until - now_ms;
}

void rmq_authn_throttle_fail(struct rmq_authn *a, const char *ip, uint64_t now_ms)
{
    uint64_t base = a != NULL ? a->s->mqtt.authn_failure_delay : 0;
    if (base == 0) {
        return;
    }
    struct throttle_slot *t = slot_of(a, ip);
    uint64_t cap = base * THROTTLE_MAX_FACTOR;
    /* a slot quiet for longer than the longest delay starts over */
    if (strcmp(t->ip, ip) != 0) {
        snprintf(t->ip, sizeof t->ip, "%s", ip);
        t->failures = 0;
        t->pending = 0;
    } else if (now_ms > t->last + 2 * cap) {
        t->failures = 0;
    }
    t->failures++;
    uint64_t d = base << (t->failures - 1 < 6 ? t->failures - 1 : 6);
    t->until = now_ms + (d < cap ? d : cap);
    t->last = now_ms;
}

void rmq_authn_throttle_ok(struct rmq_authn *a, const char *ip)
{
    if (a == NULL) {
        return;
    }
    struct throttle_slot *t = slot_of(a, ip);
    if (strcmp(t->ip, ip) == 0) {
        t->failures = 0;
        t->until = 0;
    }
}

bool rmq_authn_throttle_begin(struct rmq_authn *a, const char *ip)
{
    if (a == NULL) {
        return true;
    }
    struct throttle_slot *t = slot_of(a, ip);
    if (strcmp(t->ip, ip) != 0) {
        if (t->pending > 0) {
            return true; /* the slot belongs to another address for now: not counted */
        }
        memset(t, 0, sizeof *t);
        snprintf(t->ip, sizeof t->ip, "%s", ip);
    }
    if (t->pending >= RMQ_AUTHN_MAX_PENDING) {
        return false;
    }
    t->pending++;
    return true;
}

void rmq_authn_throttle_end(struct rmq_authn *a, const char *ip)
{
    if (a == NULL) {
        return;
    }
    struct throttle_slot *t = slot_of(a, ip);
    if (strcmp(t->ip, ip) == 0 && t->pending > 0) {
        t->pending--;
    }
}
