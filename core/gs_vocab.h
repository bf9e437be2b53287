/*
 * gs_vocab.h — the one definition of the product's vocabularies: run statuses
 * and event types. Everything else is generated from these lists (the store's
 * SQL and status checks, the SSE stream's terminal test and wire names, the
 * grokspicy.vocab Lua tables that view.lua, resume.lua and web.lua read) or
 * checked against them by tests/lua/vocab_spec.lua (templates, static/app.js,
 * the literals in Lua and C). To rename or add a status or an event, change it
 * here; the spec names every place that still disagrees. (Rows already stored
 * keep the old name: a rename also takes a schema migration in store.c.)
 *
 * The lists are X-macros: LIST(X, SEP) expands X(name) per entry with SEP
 * between entries, so one list gives a C array (SEP empty, X adding a comma)
 * as well as an SQL list (SEP ",", X quoting). Names are bare tokens; the
 * GS_ST_* and GS_EV_* names below let code name one entry without spelling it.
 */
#ifndef GS_VOCAB_H
#define GS_VOCAB_H

/* ---------------------------------------------------------------- statuses */

#define GS_ST_PENDING pending
#define GS_ST_IDEATION ideation
#define GS_ST_CHARACTERS characters
#define GS_ST_KEYFRAMES keyframes
#define GS_ST_SCRIPT script
#define GS_ST_VIDEOS videos
#define GS_ST_ASSEMBLY assembly
#define GS_ST_COMPLETE complete
#define GS_ST_FAILED failed
#define GS_ST_INTERRUPTED interrupted
#define GS_ST_CANCELLED cancelled
#define GS_ST_QUEUED queued

/* A run in one of these has a process working on it (or had, until the store
   finds it dead), in the order a run passes them. */
#define GS_STATUSES_RUNNING(X, SEP)                                                                          \
    X(GS_ST_PENDING) SEP X(GS_ST_IDEATION) SEP X(GS_ST_CHARACTERS) SEP X(GS_ST_KEYFRAMES) SEP X(GS_ST_SCRIPT) \
    SEP X(GS_ST_VIDEOS) SEP X(GS_ST_ASSEMBLY)
/* Waiting for its turn (started from the dashboard): no process works on it
   yet; the server that queued it starts it (a claim, as a resume's). */
#define GS_STATUSES_WAITING(X, SEP) X(GS_ST_QUEUED)
/* What a claim may take over: a run waiting for its turn, or one that ended short. */
#define GS_STATUSES_CLAIMABLE(X, SEP) GS_STATUSES_WAITING(X, SEP) SEP GS_STATUSES_RESUMABLE(X, SEP)
/* Ended short: a resume may go on with the run. */
#define GS_STATUSES_RESUMABLE(X, SEP) X(GS_ST_FAILED) SEP X(GS_ST_INTERRUPTED) SEP X(GS_ST_CANCELLED)
/* Ended: no process works on the run. */
#define GS_STATUSES_TERMINAL(X, SEP) X(GS_ST_COMPLETE) SEP GS_STATUSES_RESUMABLE(X, SEP)
#define GS_STATUSES(X, SEP) GS_STATUSES_RUNNING(X, SEP) SEP GS_STATUSES_WAITING(X, SEP) SEP GS_STATUSES_TERMINAL(X, SEP)
/* Not ended yet: working or waiting for its turn. */
#define GS_STATUSES_UNENDED(X, SEP) GS_STATUSES_RUNNING(X, SEP) SEP GS_STATUSES_WAITING(X, SEP)

/* The run list's filter for every run not ended yet (GS_STATUSES_UNENDED): a
   filter name beside the statuses, never a status itself. */
#define GS_FILTER_UNENDED running

/* ---------------------------------------------------------------- events */

#define GS_EV_RUN run
#define GS_EV_RUN_NEW run-new
#define GS_EV_STATUS status
#define GS_EV_PLAN plan
#define GS_EV_CHARACTER character
#define GS_EV_KEYFRAME keyframe
#define GS_EV_SCRIPT script
#define GS_EV_VIDEO video
#define GS_EV_COST cost
#define GS_EV_ACTIVITY activity
#define GS_EV_COMPLETE complete
#define GS_EV_ERROR error
#define GS_EV_CANCELLED cancelled
#define GS_EV_INTERRUPTED interrupted

/* The types of the events table: X(type, ends the run's stream, page whose
   sse-swap takes it). "run" carries the run list's row (a replace by id),
   "run-new" the row of a run just made (it goes on top of the list), every
   other type a fragment of the run page ("activity": what an attempt does
   now, generating or scoring, while it lasts). */
#define GS_EVENTS(X, SEP)                                                                                 \
    X(GS_EV_RUN, 0, list) SEP X(GS_EV_RUN_NEW, 0, list) SEP X(GS_EV_STATUS, 0, run) SEP X(GS_EV_PLAN, 0, run) SEP                       \
    X(GS_EV_CHARACTER, 0, run) SEP X(GS_EV_KEYFRAME, 0, run) SEP X(GS_EV_SCRIPT, 0, run) SEP               \
    X(GS_EV_VIDEO, 0, run) SEP X(GS_EV_COST, 0, run) SEP X(GS_EV_ACTIVITY, 0, run) SEP                      \
    X(GS_EV_COMPLETE, 1, run) SEP                                                                         \
    X(GS_EV_ERROR, 1, run) SEP X(GS_EV_CANCELLED, 1, run) SEP X(GS_EV_INTERRUPTED, 1, run)

/* The one event that goes out on the SSE stream under another name: an
   EventSource "error" is the browser's own connection-error event. */
#define GS_EV_ERROR_WIRE "run-error"

/* ---------------------------------------------------------------- spelling */

#define GS_VOCAB_STR_(x) #x
/* "name" for a C string. */
#define GS_VOCAB_STR(x) GS_VOCAB_STR_(x)
/* 'name' for SQL. */
#define GS_VOCAB_SQL(x) "'" GS_VOCAB_STR(x) "'"
/* ('a','b',...): an SQL list of a status list, for IN. */
#define GS_VOCAB_SQL_LIST(LIST) "(" LIST(GS_VOCAB_SQL, ",") ")"

/* The status lists as predicates (1 or 0); s may be NULL. */
int gs_status_known(const char *s);
int gs_status_running(const char *s);
int gs_status_resumable(const char *s);
int gs_status_waiting(const char *s);
int gs_status_terminal(const char *s);
/* NULL-terminated, in order. */
extern const char *const gs_statuses[];

/* Whether an event of this type (or wire name) ends a run's stream. */
int gs_event_terminal(const char *type);
/* Whether an event of this type is for the run list's page only (its row), not a run page. */
int gs_event_list_only(const char *type);
/* The name an event type goes out with on the SSE stream (type itself when unknown). */
const char *gs_event_wire(const char *type);

#endif
