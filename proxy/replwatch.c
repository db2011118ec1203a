/* replwatch.c — the replicas a primary has heard from (see replwatch.h).
 * A fixed array and one mutex: there are a handful of replicas, and the
 * table is touched once per changelog request and per status query. */
#include "proxy/replwatch.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/util.h"

#define REPLWATCH_MAX 64

struct seen {
	char uuid[65];
	char ip[64];
	char outside[200];
	int64_t serial;
	bool in_request, streaming;
	double last;
};

struct replwatch {
	pthread_mutex_t mu;
	struct seen e[REPLWATCH_MAX];
	int n;
};

struct replwatch *replwatch_new(void)
{
	struct replwatch *w = xcalloc(1, sizeof *w);
	pthread_mutex_init(&w->mu, NULL);
	return w;
}

void replwatch_free(struct replwatch *w)
{
	if (!w)
		return;
	pthread_mutex_destroy(&w->mu);
	xfree(w);
}

void replwatch_note(struct replwatch *w, const char *uuid, const char *ip, const char *outside, int64_t serial,
		    bool in_request, bool streaming)
{
	if (!w || !uuid || !*uuid)
		return;
	pthread_mutex_lock(&w->mu);
	struct seen *s = NULL;
	for (int i = 0; i < w->n && !s; i++)
		if (strcmp(w->e[i].uuid, uuid) == 0)
			s = &w->e[i];
	if (!s && w->n < REPLWATCH_MAX)
		s = &w->e[w->n++];
	if (!s) {                               /* full: the stalest goes */
		s = &w->e[0];
		for (int i = 1; i < w->n; i++)
			if (w->e[i].last < s->last)
				s = &w->e[i];
	}
	snprintf(s->uuid, sizeof s->uuid, "%s", uuid);
	snprintf(s->ip, sizeof s->ip, "%s", ip ? ip : "");
	snprintf(s->outside, sizeof s->outside, "%s", outside ? outside : "");
	s->serial = serial;
	s->in_request = in_request;
	s->streaming = streaming;
	s->last = time_now();
	pthread_mutex_unlock(&w->mu);
}

void replwatch_status(struct replwatch *w, cJSON *obj)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	for (int i = 0; i < w->n; i++) {
		const struct seen *s = &w->e[i];
		cJSON *o = cJSON_AddObjectToObject(obj, s->uuid);
		cJSON_AddStringToObject(o, "remote-ip", s->ip);
		cJSON_AddNumberToObject(o, "serial", (double)s->serial);
		cJSON_AddBoolToObject(o, "in-request", s->in_request);
		cJSON_AddBoolToObject(o, "is-streaming", s->streaming);
		cJSON_AddNumberToObject(o, "last-request", s->last);
		if (*s->outside)
			cJSON_AddStringToObject(o, "outside-url", s->outside);
		else
			cJSON_AddNullToObject(o, "outside-url");
	}
	pthread_mutex_unlock(&w->mu);
}
