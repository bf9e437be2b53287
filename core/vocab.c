/*
 * vocab.c — grokspicy.vocab: the run statuses and event types of gs_vocab.h as
 * C predicates and as Lua tables. Owns no state; every list here is expanded
 * from gs_vocab.h, so nothing in this file names a status or an event.
 *
 * Lua: vocab.statuses (array, in order), vocab.running, vocab.waiting, vocab.resumable,
 * vocab.terminal, vocab.unended (sets: name -> true), vocab.unended_filter (the run
 * list's filter name for the unended ones), vocab.events (array of types, in order),
 * vocab.event[type] = {wire=, terminal=, page=}, vocab.wire(type) -> the name
 * it goes out with on the SSE stream.
 */
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "gs_vocab.h"

int luaopen_grokspicy_core_vocab(lua_State *L);

#define CSTR(x) GS_VOCAB_STR(x),

const char *const gs_statuses[] = {GS_STATUSES(CSTR, ) NULL};
static const char *const running[] = {GS_STATUSES_RUNNING(CSTR, ) NULL};
static const char *const resumable[] = {GS_STATUSES_RESUMABLE(CSTR, ) NULL};
static const char *const waiting[] = {GS_STATUSES_WAITING(CSTR, ) NULL};
static const char *const terminal[] = {GS_STATUSES_TERMINAL(CSTR, ) NULL};
static const char *const unended[] = {GS_STATUSES_UNENDED(CSTR, ) NULL};

struct event_def {
    const char *type;
    int terminal;
    const char *page;
};
#define EVENT(t, term, pg) {GS_VOCAB_STR(t), term, #pg},
static const struct event_def events[] = {GS_EVENTS(EVENT, ){NULL, 0, NULL}};
#undef EVENT

static int in(const char *const *list, const char *s)
{
    if (!s)
        return 0;
    for (; *list; list++)
        if (strcmp(*list, s) == 0)
            return 1;
    return 0;
}

int gs_status_known(const char *s) { return in(gs_statuses, s); }
int gs_status_running(const char *s) { return in(running, s); }
int gs_status_resumable(const char *s) { return in(resumable, s); }
int gs_status_waiting(const char *s) { return in(waiting, s); }
int gs_status_terminal(const char *s) { return in(terminal, s); }

const char *gs_event_wire(const char *type)
{
    return type && strcmp(type, GS_VOCAB_STR(GS_EV_ERROR)) == 0 ? GS_EV_ERROR_WIRE : type;
}

int gs_event_terminal(const char *type)
{
    if (!type)
        return 0;
    for (const struct event_def *e = events; e->type; e++)
        if (e->terminal && (strcmp(e->type, type) == 0 || strcmp(gs_event_wire(e->type), type) == 0))
            return 1;
    return 0;
}

int gs_event_list_only(const char *type)
{
    if (!type)
        return 0;
    for (const struct event_def *e = events; e->type; e++)
        if (strcmp(e->type, type) == 0)
            return strcmp(e->page, "list") == 0;
    return 0;
}

static void push_array(lua_State *L, const char *const *list)
{
    lua_newtable(L);
    for (int i = 0; list[i]; i++) {
        lua_pushstring(L, list[i]);
        lua_rawseti(L, -2, i + 1);
    }
}

static void push_set(lua_State *L, const char *const *list)
{
    lua_newtable(L);
    for (; *list; list++) {
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, *list);
    }
}

/* vocab.wire(type) -> the event's name on the SSE stream */
static int l_wire(lua_State *L)
{
    lua_pushstring(L, gs_event_wire(luaL_checkstring(L, 1)));
    return 1;
}

int luaopen_grokspicy_core_vocab(lua_State *L)
{
    lua_newtable(L);
    push_array(L, gs_statuses);
    lua_setfield(L, -2, "statuses");
    push_set(L, running);
    lua_setfield(L, -2, "running");
    push_set(L, resumable);
    lua_setfield(L, -2, "resumable");
    push_set(L, waiting);
    lua_setfield(L, -2, "waiting");
    push_set(L, terminal);
    lua_setfield(L, -2, "terminal");
    push_set(L, unended);
    lua_setfield(L, -2, "unended");
    lua_pushstring(L, GS_VOCAB_STR(GS_FILTER_UNENDED));
    lua_setfield(L, -2, "unended_filter");
    lua_newtable(L); /* events */
    lua_newtable(L); /* event */
    for (int i = 0; events[i].type; i++) {
        lua_pushstring(L, events[i].type);
        lua_rawseti(L, -3, i + 1);
        lua_createtable(L, 0, 3);
        lua_pushstring(L, gs_event_wire(events[i].type));
        lua_setfield(L, -2, "wire");
        lua_pushboolean(L, events[i].terminal);
        lua_setfield(L, -2, "terminal");
        lua_pushstring(L, events[i].page);
        lua_setfield(L, -2, "page");
        lua_setfield(L, -2, events[i].type);
    }
    lua_setfield(L, -3, "event");
    lua_setfield(L, -2, "events");
    lua_pushcfunction(L, l_wire);
    lua_setfield(L, -2, "wire");
    return 1;
}
