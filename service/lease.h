/* lease.h: keep the ack deadline of every in-flight message extended.
 * Every ack_deadline_s / 2 seconds, the lease asks its owner for the ack ids
 * in flight and sends them in one modifyAckDeadline (split by 1000 in
 * gcp_pubsub) with ack_deadline_s. Loop thread only. The subscription name
 * is borrowed and must outlive the lease. */
#ifndef WIGGLY_SERVICE_LEASE_H
#define WIGGLY_SERVICE_LEASE_H

#include <stddef.h>

struct ev_loop;
struct gcp_pubsub;
struct svc_lease;

/* Fill ids (borrowed pointers, valid until the call returns) with up to cap
 * ack ids; return how many. */
typedef size_t (*svc_lease_collect_fn)(void *ctx, const char **ids, size_t cap);

struct svc_lease *svc_lease_create(struct ev_loop *loop, struct gcp_pubsub *ps,
                                   const char *subscription, int ack_deadline_s,
                                   svc_lease_collect_fn collect, void *ctx);
void svc_lease_destroy(struct svc_lease *l);
/* Extend these at once (e.g. right after a pull). */
void svc_lease_extend_now(struct svc_lease *l, const char *const *ids, size_t n);
/* Seconds between extensions. */
double svc_lease_interval(const struct svc_lease *l);
/* Modack requests sent so far (tests, metrics). */
unsigned long svc_lease_sent(const struct svc_lease *l);

#endif
