/*
 * steps_lua.c — the Lua face of the steps: grokspicy.steps (context, wait_all,
 * defaults), "grokspicy.StepContext" and "grokspicy.StepFuture" userdata.
 * Owns argument copying (Lua tables -> gs_step_args, validated before anything
 * is allocated) and result conversion (on the owner thread). Never runs a
 * step: that is steps.c on the worker pool.
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>
#include <lua.h>

#include "gs_internal.h"
#include "gs_steps.h"
#include "gs_util.h"

int luaopen_grokspicy_core_steps(lua_State *L);

#define CTX_MT "grokspicy.StepContext"
#define FUTURE_MT "grokspicy.StepFuture"
#define ARGS_MT "grokspicy.StepArgs"

typedef struct lctx {
    gs_steps_ctx *ctx;          /* NULL: closed */
    int borrowed;               /* uservalue 1 is a borrowed grokspicy.Provider */
    gs_step_charge *left;       /* charges taken from the context, not yet by ctx:charges() */
    size_t n_left, lost;
} lctx;

/* Moves the context's queued charges into u->left (no Lua allocation: safe in close). */
static void gather_charges(lctx *u)
{
    size_t n = 0, lost = 0;
    gs_step_charge *v = gs_steps_take_charges(u->ctx, &n, &lost);
    u->lost += lost;
    if (!v)
        return;
    if (!u->left) {
        u->left = v;
        u->n_left = n;
        return;
    }
    gs_step_charge *all = realloc(u->left, (u->n_left + n) * sizeof *all);
    if (!all) {
        u->lost += n;
    } else {
        memcpy(all + u->n_left, v, n * sizeof *v);
        u->left = all;
        u->n_left += n;
    }
    free(v);
}

typedef struct lfuture {
    gs_future *f;               /* NULL: not yet submitted, or released */
} lfuture;

/*
 * Argument copying runs twice over the same Lua values: a dry pass that only
 * validates (and may raise), then a copy pass into a gs_step_args held by a
 * guard userdata (so even a memory error while copying leaks nothing).
 */
typedef struct parser {
    lua_State *L;
    const char *fn;
    int dry, oom;
} parser;

static char *dup_or_oom(parser *p, const char *s)
{
    if (p->dry || !s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        p->oom = 1;
    return d;
}

/* Pops the value on top of the stack as an optional or required string. */
static char *take_str(parser *p, const char *where, const char *key, int required, const char *def)
{
    lua_State *L = p->L;
    int t = lua_type(L, -1);
    const char *s = def;
    if (t == LUA_TNIL) {
        if (required)
            luaL_error(L, "%s: %s%s is required", p->fn, where, key);
    } else if (t != LUA_TSTRING) {
        luaL_error(L, "%s: %s%s must be a string, got %s", p->fn, where, key, lua_typename(L, t));
    } else {
        size_t len;
        s = lua_tolstring(L, -1, &len);
        if (strlen(s) != len) /* C strings would end at the NUL: refuse, never cut */
            luaL_error(L, "%s: %s%s contains a NUL byte", p->fn, where, key);
    }
    char *out = dup_or_oom(p, s);
    lua_pop(L, 1);
    return out;
}

static char *p_str(parser *p, int t, const char *where, const char *key, int required, const char *def)
{
    lua_getfield(p->L, t, key);
    return take_str(p, where, key, required, def);
}

/* A number (integer: an integer) field in lo..hi, through the shared option reader. */
static double p_num(parser *p, int t, const char *where, const char *key, int required, double def, double lo,
                    double hi, int integer)
{
    const gs_opts o = {p->L, p->fn, where, NULL};
    if (integer)
        return (double)gs_opt_int(&o, t, key, required, (lua_Integer)def, (lua_Integer)lo, (lua_Integer)hi);
    return gs_opt_num(&o, t, key, required, def, lo, hi);
}

/* Pushes field key of t when it is a table and returns its index; 0 (nothing
 * pushed) when nil and optional. */
static int p_table(parser *p, int t, const char *where, const char *key, int required)
{
    return gs_opt_table(&(const gs_opts){p->L, p->fn, where, NULL}, t, key, required);
}

/* Array of strings at field key into *v, *n. */
static void p_strings(parser *p, int t, const char *where, const char *key, int required, size_t min, size_t max,
                      char ***v, size_t *n)
{
    lua_State *L = p->L;
    int lt = p_table(p, t, where, key, required);
    if (!lt)
        return;
    lua_Integer len = luaL_len(L, lt);
    if (len < (lua_Integer)min || len > (lua_Integer)max)
        luaL_error(L, "%s: %s%s must have %d..%d entries", p->fn, where, key, (int)min, (int)max);
    if (!p->dry && len > 0) {
        if ((*v = calloc((size_t)len, sizeof(char *))))
            *n = (size_t)len;
        else
            p->oom = 1;
    }
    char w[96];
    for (lua_Integer i = 1; i <= len; i++) {
        snprintf(w, sizeof w, "%s%s[%d]", where, key, (int)i);
        lua_geti(L, lt, i);
        char *s = take_str(p, w, "", 1, NULL);
        if (*v)
            (*v)[i - 1] = s;
    }
    lua_pop(L, 1);
}

static void p_character(parser *p, int ct, const char *where, int need_desc, gs_step_character *c)
{
    char *name = p_str(p, ct, where, "name", 1, NULL);
    char *role = p_str(p, ct, where, "role", 0, "");
    char *desc = p_str(p, ct, where, "visual_description", need_desc, "");
    char *portrait = p_str(p, ct, where, "portrait_path", 0, NULL);
    if (c) {
        c->name = name;
        c->role = role;
        c->visual_description = desc;
        c->portrait_path = portrait;
    }
}

static void p_characters(parser *p, int t, gs_step_args *a)
{
    lua_State *L = p->L;
    int lt = p_table(p, t, "", "characters", 0);
    if (!lt)
        return;
    lua_Integer len = luaL_len(L, lt);
    if (len < 0 || len > GS_PLAN_MAX_CHARACTERS)
        luaL_error(L, "%s: characters must have 0..%d entries", p->fn, GS_PLAN_MAX_CHARACTERS);
    if (!p->dry && len > 0) {
        if ((a->chars = calloc((size_t)len, sizeof *a->chars)))
            a->n_chars = (size_t)len;
        else
            p->oom = 1;
    }
    char w[64];
    for (lua_Integer i = 1; i <= len; i++) {
        snprintf(w, sizeof w, "characters[%d].", (int)i);
        if (lua_geti(L, lt, i) != LUA_TTABLE)
            luaL_error(L, "%s: characters[%d] must be a table", p->fn, (int)i);
        p_character(p, lua_gettop(L), w, 0, a->chars ? &a->chars[i - 1] : NULL);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

static void p_scene(parser *p, int t, gs_step_args *a)
{
    int st = p_table(p, t, "", "scene", 1);
    gs_step_scene *s = &a->scene;
    s->scene_id = (int)p_num(p, st, "scene.", "scene_id", 1, 0, 1, GS_PLAN_MAX_SCENE_ID, 1);
    s->title = p_str(p, st, "scene.", "title", 0, "");
    s->description = p_str(p, st, "scene.", "description", 0, "");
    s->setting = p_str(p, st, "scene.", "setting", 0, "");
    s->camera = p_str(p, st, "scene.", "camera", 0, "");
    s->mood = p_str(p, st, "scene.", "mood", 0, "");
    s->action = p_str(p, st, "scene.", "action", 0, "");
    s->duration = p_num(p, st, "scene.", "duration_seconds", 0, GS_PLAN_DEFAULT_DURATION, GS_PLAN_MIN_DURATION, GS_PLAN_MAX_DURATION, 0);
    p_strings(p, st, "scene.", "characters_present", 0, 0, 64, &s->present, &s->n_present);
    lua_pop(p->L, 1);
}

/* Parses args (table at index t) for kind into a (NULL members in the dry pass). */
static void parse_step(parser *p, gs_step_kind kind, int t, gs_step_args *a)
{
    a->kind = kind;
    a->aspect = p_str(p, t, "", "aspect", 0, "16:9");
    switch (kind) {
    case GS_STEP_CHARACTER_SHEET: {
        a->style = p_str(p, t, "", "style", 0, "");
        a->reference = p_str(p, t, "", "reference", 0, NULL);
        int ct = p_table(p, t, "", "character", 1);
        if (!p->dry && !p->oom) {
            if ((a->chars = calloc(1, sizeof *a->chars)))
                a->n_chars = 1;
            else
                p->oom = 1;
        }
        p_character(p, ct, "character.", 1, a->chars);
        lua_pop(p->L, 1);
        break;
    }
    case GS_STEP_COMPOSE_KEYFRAME:
    case GS_STEP_SCENE_VIDEO: {
        lua_getfield(p->L, t, "plan_style");
        if (lua_isnil(p->L, -1)) {
            lua_pop(p->L, 1);
            a->style = p_str(p, t, "", "style", 0, "");
        } else {
            a->style = take_str(p, "", "plan_style", 0, "");
        }
        p_scene(p, t, a);
        p_characters(p, t, a);
        if (kind == GS_STEP_COMPOSE_KEYFRAME) {
            a->previous_keyframe = p_str(p, t, "", "previous_keyframe", 0, NULL);
        } else {
            int kt = p_table(p, t, "", "keyframe", 1);
            a->keyframe_path = p_str(p, kt, "keyframe.", "keyframe_path", 1, NULL);
            a->video_prompt = p_str(p, kt, "keyframe.", "video_prompt", 0, NULL);
            lua_pop(p->L, 1);
            a->pending_video = p_str(p, t, "", "pending_video", 0, NULL);
        }
        break;
    }
    case GS_STEP_ASSEMBLE:
        p_strings(p, t, "", "clips", 1, 1, 1000, &a->clips, &a->n_clips);
        p_strings(p, t, "", "normalized", 0, 0, 1000, &a->normalized, &a->n_normalized);
        lua_getfield(p->L, t, "normalized");
        lua_getfield(p->L, t, "clips");
        if (!lua_isnil(p->L, -2) && luaL_len(p->L, -2) != luaL_len(p->L, -1))
            luaL_error(p->L, "%s: normalized must have one entry per clip (\"\" where the step normalises it)",
                       p->fn);
        lua_pop(p->L, 2);
        a->out = p_str(p, t, "", "out", 0, NULL);
        break;
    }
}

static int args_gc(lua_State *L)
{
    gs_step_args_free(luaL_checkudata(L, 1, ARGS_MT));
    return 0;
}

static lctx *check_ctx(lua_State *L, const char *fn)
{
    lctx *u = luaL_checkudata(L, 1, CTX_MT);
    if (!u->ctx)
        luaL_error(L, "%s: the steps context is closed", fn);
    return u;
}

static gs_future *check_future(lua_State *L, int idx, const char *fn)
{
    lfuture *u = luaL_checkudata(L, idx, FUTURE_MT);
    if (!u->f)
        luaL_error(L, "%s: the future is released", fn);
    return u->f;
}

/* ctx:submit(step_name, args) -> future | nil, err */
static int l_submit(lua_State *L)
{
    static const char *const names[] = {"generate_character_sheet", "compose_keyframe", "generate_scene_video",
                                        "assemble_final_video", NULL};
    lctx *u = check_ctx(L, "ctx:submit");
    gs_step_kind kind = (gs_step_kind)luaL_checkoption(L, 2, NULL, names);
    luaL_checktype(L, 3, LUA_TTABLE);
    lua_settop(L, 3);
    gs_step_args scratch;
    memset(&scratch, 0, sizeof scratch);
    parser p = {L, names[kind], 1, 0};
    parse_step(&p, kind, 3, &scratch);             /* may raise; allocates nothing */
    gs_step_args *a = lua_newuserdatauv(L, sizeof *a, 0); /* guard: 4 */
    memset(a, 0, sizeof *a);
    luaL_setmetatable(L, ARGS_MT);
    lfuture *fu = lua_newuserdatauv(L, sizeof *fu, 0); /* born closed: 5 */
    fu->f = NULL;
    luaL_setmetatable(L, FUTURE_MT);
    p.dry = 0;
    parse_step(&p, kind, 3, a);
    if (p.oom)
        return luaL_error(L, "%s: out of memory", names[kind]);
    char err[1024];
    fu->f = gs_steps_submit(u->ctx, a, err, sizeof err); /* takes *a */
    if (!fu->f) {
        luaL_pushfail(L);
        lua_pushstring(L, err);
        return 2;
    }
    return 1;
}

static void set_num(lua_State *L, const char *k, double v)
{
    lua_pushnumber(L, v);
    lua_setfield(L, -2, k);
}

/* Pushes a finished step's result table. */
static void push_result(lua_State *L, gs_future *f)
{
    const gs_step_result *r = gs_future_result(f);
    lua_createtable(L, 0, (int)r->n_fields + 4);
    for (size_t i = 0; i < r->n_fields; i++) {
        const gs_step_field *fd = &r->fields[i];
        switch (fd->type) {
        case GS_FIELD_STR: lua_pushstring(L, fd->s); break;
        case GS_FIELD_INT: lua_pushinteger(L, (lua_Integer)fd->n); break;
        case GS_FIELD_BOOL: lua_pushboolean(L, fd->n != 0); break;
        default: lua_pushnumber(L, fd->n); break;
        }
        lua_setfield(L, -2, fd->key);
    }
    lua_pushstring(L, gs_step_kind_name(gs_future_kind(f)));
    lua_setfield(L, -2, "step");
    set_num(L, "cost", r->cost);
    lua_createtable(L, (int)r->n_attempts, 0);
    for (size_t i = 0; i < r->n_attempts; i++) {
        lua_createtable(L, 0, 6);
        lua_pushstring(L, r->attempts[i].path);
        lua_setfield(L, -2, "path");
        if (r->attempts[i].score >= 0)
            set_num(L, "score", r->attempts[i].score);
        lua_pushstring(L, r->attempts[i].action);
        lua_setfield(L, -2, "action");
        if (r->attempts[i].issues) {
            lua_pushstring(L, r->attempts[i].issues);
            lua_setfield(L, -2, "issues");
        }
        set_num(L, "seconds", r->attempts[i].seconds);
        lua_pushinteger(L, (lua_Integer)r->attempts[i].ticks);
        lua_setfield(L, -2, "ticks");
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_setfield(L, -2, "attempts");
    if (gs_future_kind(f) == GS_STEP_COMPOSE_KEYFRAME) {
        lua_createtable(L, (int)r->n_refs, 0);
        for (size_t i = 0; i < r->n_refs; i++) {
            lua_pushstring(L, r->refs[i]);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        lua_setfield(L, -2, "refs");
    }
}

/* Pushes result | nil, err for a finished future; returns the count. */
static int push_outcome(lua_State *L, gs_future *f)
{
    const gs_step_result *r = gs_future_result(f);
    if (!r->ok) {
        luaL_pushfail(L);
        lua_pushstring(L, r->err);
        return 2;
    }
    push_result(L, f);
    gs_future_mark_collected(f);
    return 1;
}

static double opt_timeout(lua_State *L, int idx, const char *fn)
{
    if (lua_isnoneornil(L, idx))
        return -1;
    double t = luaL_checknumber(L, idx);
    luaL_argcheck(L, t >= 0, idx, fn);
    return t;
}

/* future:wait(timeout_s?) -> result | nil, err */
static int l_fwait(lua_State *L)
{
    gs_future *f = check_future(L, 1, "future:wait");
    double t = opt_timeout(L, 2, "future:wait: timeout must be >= 0");
    if (!gs_future_wait(f, t)) {
        luaL_pushfail(L);
        lua_pushfstring(L, "%s: timed out after %f s", gs_step_kind_name(gs_future_kind(f)), t);
        return 2;
    }
    return push_outcome(L, f);
}

/* future:id() -> the number of its submission in the context */
static int l_fid(lua_State *L)
{
    lua_pushinteger(L, gs_future_id(check_future(L, 1, "future:id")));
    return 1;
}

/* future:done() -> true once the step has finished (its event is queued) */
static int l_fdone(lua_State *L)
{
    lua_pushboolean(L, gs_future_done(check_future(L, 1, "future:done")));
    return 1;
}

/* future:cancel(): the step stops at its next check (its ffmpeg children with it) and fails with
 * "cancelled". */
static int l_fcancel(lua_State *L)
{
    gs_future_cancel(check_future(L, 1, "future:cancel"));
    return 0;
}

static int l_fgc(lua_State *L)
{
    lfuture *u = luaL_checkudata(L, 1, FUTURE_MT);
    gs_future_release(u->f);
    u->f = NULL;
    return 0;
}

static int l_ftostring(lua_State *L)
{
    lfuture *u = luaL_checkudata(L, 1, FUTURE_MT);
    if (!u->f)
        lua_pushliteral(L, "grokspicy.StepFuture (released)");
    else
        lua_pushfstring(L, "grokspicy.StepFuture %d (%s, %s)", gs_future_id(u->f), gs_step_kind_name(gs_future_kind(u->f)),
                        gs_future_done(u->f) ? "done" : "pending");
    return 1;
}

/* steps.wait_all(futures, timeout_s?) -> {results} | nil, err (the first failure in list order) */
static int l_wait_all(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    double t = opt_timeout(L, 2, "steps.wait_all: timeout must be >= 0");
    double deadline = t < 0 ? -1 : gs_monotonic() + t;
    lua_Integer n = luaL_len(L, 1);
    for (lua_Integer i = 1; i <= n; i++) { /* check every entry before waiting */
        lua_geti(L, 1, i);
        if (!luaL_testudata(L, -1, FUTURE_MT) || !((lfuture *)lua_touserdata(L, -1))->f)
            return luaL_error(L, "steps.wait_all: entry %d is not a future", (int)i);
        lua_pop(L, 1);
    }
    lua_createtable(L, (int)n, 0);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, 1, i);
        gs_future *f = ((lfuture *)lua_touserdata(L, -1))->f;
        lua_pop(L, 1);
        double left = deadline < 0 ? -1 : fmax(0, deadline - gs_monotonic());
        if (!gs_future_wait(f, left)) {
            luaL_pushfail(L);
            lua_pushfstring(L, "steps.wait_all: timed out after %f s (step %d of %d, %s)", t, (int)i, (int)n,
                            gs_step_kind_name(gs_future_kind(f)));
            return 2;
        }
    }
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, 1, i);
        gs_future *f = ((lfuture *)lua_touserdata(L, -1))->f;
        lua_pop(L, 1);
        if (!gs_future_result(f)->ok) {
            luaL_pushfail(L);
            lua_pushstring(L, gs_future_result(f)->err);
            return 2;
        }
        push_result(L, f);
        gs_future_mark_collected(f);
        lua_rawseti(L, -2, i);
    }
    return 1;
}

/* ctx:next_event(timeout_s?) -> event | nil */
static int l_next_event(lua_State *L)
{
    lctx *u = check_ctx(L, "ctx:next_event");
    double t = opt_timeout(L, 2, "ctx:next_event: timeout must be >= 0");
    gs_step_event ev;
    if (!gs_steps_next_event(u->ctx, &ev, t)) {
        lua_pushnil(L);
        return 1;
    }
    lua_createtable(L, 0, 8);
    lua_pushstring(L, ev.kind == GS_EVENT_DONE ? "done" : "progress");
    lua_setfield(L, -2, "kind");
    lua_pushinteger(L, ev.future_id);
    lua_setfield(L, -2, "future");
    lua_pushstring(L, ev.step);
    lua_setfield(L, -2, "step");
    lua_pushstring(L, ev.asset);
    lua_setfield(L, -2, "asset");
    lua_pushstring(L, ev.message);
    lua_setfield(L, -2, "message");
    if (ev.kind == GS_EVENT_DONE) {
        lua_pushboolean(L, ev.ok);
        lua_setfield(L, -2, "ok");
    }
    if (ev.attempt > 0) {
        lua_pushinteger(L, ev.attempt);
        lua_setfield(L, -2, "attempt");
    }
    if (ev.score >= 0)
        set_num(L, "score", ev.score);
    if (ev.phase[0]) {
        lua_pushstring(L, ev.phase);
        lua_setfield(L, -2, "phase");
    }
    return 1;
}

/* ctx:stats() -> {queued, capacity, dropped, pending, workers, output_dir, run_dir} */
static int l_stats(lua_State *L)
{
    lctx *u = check_ctx(L, "ctx:stats");
    gs_steps_stats st;
    gs_steps_get_stats(u->ctx, &st);
    lua_createtable(L, 0, 5);
    lua_pushinteger(L, (lua_Integer)st.queued);
    lua_setfield(L, -2, "queued");
    lua_pushinteger(L, (lua_Integer)st.capacity);
    lua_setfield(L, -2, "capacity");
    lua_pushinteger(L, (lua_Integer)st.dropped);
    lua_setfield(L, -2, "dropped");
    lua_pushinteger(L, (lua_Integer)st.pending);
    lua_setfield(L, -2, "pending");
    lua_pushinteger(L, st.workers);
    lua_setfield(L, -2, "workers");
    lua_pushstring(L, gs_steps_output_dir(u->ctx));
    lua_setfield(L, -2, "output_dir");
    lua_pushstring(L, gs_steps_run_dir(u->ctx));
    lua_setfield(L, -2, "run_dir");
    return 1;
}

/* ctx:charges() -> every billed request of the steps since the last call,
 * oldest first: {step=, asset=, endpoint=, model=, request_id=, outcome=,
 * detail=, ticks=, estimated=, update=}. Works on a closed context: what the
 * steps paid for before the close is still there to record. */
static int l_charges(lua_State *L)
{
    lctx *u = luaL_checkudata(L, 1, CTX_MT);
    if (u->ctx)
        gather_charges(u);
    if (u->lost) {
        size_t lost = u->lost;
        u->lost = 0;
        return luaL_error(L, "ctx:charges: %d charges were lost (out of memory)", (int)lost);
    }
    lua_createtable(L, (int)u->n_left, 0);
    for (size_t i = 0; i < u->n_left; i++) {
        gs_push_charge(L, &u->left[i].c);
        lua_pushstring(L, u->left[i].step);
        lua_setfield(L, -2, "step");
        lua_pushstring(L, u->left[i].asset);
        lua_setfield(L, -2, "asset");
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    free(u->left); /* every one is in the table: nothing raised */
    u->left = NULL;
    u->n_left = 0;
    return 1;
}

/* close, __close: idempotent; joins the workers and keeps their last charges
 * for ctx:charges(). */
static int l_ctx_close(lua_State *L)
{
    lctx *u = luaL_checkudata(L, 1, CTX_MT);
    if (u->ctx) {
        gs_steps_close(u->ctx);
        gather_charges(u);
        gs_steps_free(u->ctx);
        u->ctx = NULL;
    }
    if (u->borrowed) {
        u->borrowed = 0;
        lua_getiuservalue(L, 1, 1);
        gs_provider_unborrow(L, -1);
        lua_pop(L, 1);
        lua_pushnil(L);
        lua_setiuservalue(L, 1, 1);
    }
    return 0;
}

static int l_ctx_gc(lua_State *L)
{
    lctx *u = luaL_checkudata(L, 1, CTX_MT);
    l_ctx_close(L);
    free(u->left);
    u->left = NULL;
    u->n_left = 0;
    return 0;
}

static int l_ctx_tostring(lua_State *L)
{
    lctx *u = luaL_checkudata(L, 1, CTX_MT);
    if (u->ctx)
        lua_pushfstring(L, "grokspicy.StepContext (%d workers, %s)", gs_steps_workers(u->ctx),
                        gs_steps_run_dir(u->ctx));
    else
        lua_pushliteral(L, "grokspicy.StepContext (closed)");
    return 1;
}

static const struct {
    const char *key;
    size_t off;
    double lo, hi;
    int integer;
} num_options[] = {
    {"character_threshold", offsetof(gs_steps_options, character_threshold), 0, 1, 0},
    {"character_max_attempts", offsetof(gs_steps_options, character_max_attempts), 1, 20, 1},
    {"keyframe_threshold", offsetof(gs_steps_options, keyframe_threshold), 0, 1, 0},
    {"keyframe_max_fix_edits", offsetof(gs_steps_options, keyframe_max_fix_edits), 0, 20, 1},
    {"video_threshold", offsetof(gs_steps_options, video_threshold), 0, 1, 0},
    {"video_max_corrections", offsetof(gs_steps_options, video_max_corrections), 0, 20, 1},
    {"video_max_edit_input", offsetof(gs_steps_options, video_max_edit_input), 0, 60, 0},
    {"long_clip_regen_threshold", offsetof(gs_steps_options, long_clip_regen_threshold), 0, 1, 0},
};
static const char *const tpl_names[] = {"portrait", "keyframe", "fix", "video_motion", "video_correction"};

static char **tpl_slot(gs_steps_options *o, size_t i)
{
    char **slots[] = {&o->tpl_portrait, &o->tpl_keyframe, &o->tpl_fix, &o->tpl_video_motion,
                      &o->tpl_video_correction};
    return slots[i];
}

/* Options table at t into o (NULL: validate only). Unknown keys raise. */
static void parse_options(parser *p, int t, gs_steps_options *o)
{
    lua_State *L = p->L;
    lua_pushnil(L);
    while (lua_next(L, t)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            luaL_error(L, "%s: option keys must be strings", p->fn);
        const char *k = lua_tostring(L, -2);
        int known = !strcmp(k, "resolution") || !strcmp(k, "templates");
        for (size_t i = 0; i < sizeof num_options / sizeof num_options[0]; i++)
            known |= !strcmp(k, num_options[i].key);
        if (!known)
            luaL_error(L, "%s: unknown option '%s'", p->fn, k);
        lua_pop(L, 1);
    }
    for (size_t i = 0; i < sizeof num_options / sizeof num_options[0]; i++) {
        lua_getfield(L, t, num_options[i].key);
        int set = !lua_isnil(L, -1);
        lua_pop(L, 1);
        if (!set)
            continue;
        double v = p_num(p, t, "options.", num_options[i].key, 1, 0, num_options[i].lo, num_options[i].hi,
                         num_options[i].integer);
        if (o && num_options[i].integer)
            *(int *)((char *)o + num_options[i].off) = (int)v;
        else if (o)
            *(double *)((char *)o + num_options[i].off) = v;
    }
    lua_getfield(L, t, "resolution");
    if (!lua_isnil(L, -1)) {
        const char *r = lua_tostring(L, -1);
        if (lua_type(L, -1) != LUA_TSTRING || (strcmp(r, "720p") && strcmp(r, "480p")))
            luaL_error(L, "%s: options.resolution must be \"720p\" or \"480p\"", p->fn);
        if (o)
            snprintf(o->resolution, sizeof o->resolution, "%s", r);
    }
    lua_pop(L, 1);
    int tt = p_table(p, t, "options.", "templates", 0);
    if (tt) {
        lua_pushnil(L);
        while (lua_next(L, tt)) {
            int ok = lua_type(L, -2) == LUA_TSTRING;
            for (size_t i = 0; ok && i < 5; i++)
                ok = ok && strcmp(lua_tostring(L, -2), tpl_names[i]) != 0;
            if (ok || lua_type(L, -2) != LUA_TSTRING)
                luaL_error(L, "%s: unknown template '%s'", p->fn, luaL_tolstring(L, -2, NULL));
            lua_pop(L, 1);
        }
        for (size_t i = 0; i < 5; i++) {
            char *s = p_str(p, tt, "options.templates.", tpl_names[i], 0, NULL);
            if (s) {
                free(*tpl_slot(o, i));
                *tpl_slot(o, i) = s;
            }
        }
        lua_pop(L, 1);
    }
}

/* steps.context{provider=, seed=, output_dir=, run_dir=, workers=, queue_size=, options=} -> ctx | nil, err */
static int l_context(lua_State *L)
{
    parser p = {L, "steps.context", 1, 0};
    if (lua_isnoneornil(L, 1)) {
        lua_settop(L, 0);
        lua_newtable(L);
    }
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    /* validate everything first: nothing below raises after allocating */
    int ptype = lua_getfield(L, 1, "provider"); /* 2 */
    if (ptype != LUA_TNIL && ptype != LUA_TSTRING && !luaL_testudata(L, 2, "grokspicy.Provider"))
        return luaL_error(L, "steps.context: provider must be a name or a provider from provider.open");
    if (ptype == LUA_TUSERDATA) {
        lua_getfield(L, 2, "name"); /* an open provider: a closed one raises here */
        lua_pushvalue(L, 2);
        lua_call(L, 1, 0);
    }
    double seed = p_num(&p, 1, "", "seed", 0, -1, 0, 9007199254740991.0, 1);
    int workers = (int)p_num(&p, 1, "", "workers", 0, 0, 1, 64, 1);
    int qsize = (int)p_num(&p, 1, "", "queue_size", 0, 0, 8, 65536, 1);
    const char *out = NULL, *run_dir = NULL;
    if (lua_getfield(L, 1, "output_dir") != LUA_TNIL && !(out = lua_tostring(L, -1)))
        return luaL_error(L, "steps.context: output_dir must be a string");
    if (lua_getfield(L, 1, "run_dir") != LUA_TNIL && !(run_dir = lua_tostring(L, -1)))
        return luaL_error(L, "steps.context: run_dir must be a string");
    int ot = p_table(&p, 1, "", "options", 0); /* 5 when present */
    if (ot)
        parse_options(&p, ot, NULL);
    lctx *u = lua_newuserdatauv(L, sizeof *u, 1); /* born closed */
    memset(u, 0, sizeof *u);
    luaL_setmetatable(L, CTX_MT);
    int ui = lua_gettop(L);
    gs_steps_options opt;
    if (gs_steps_options_default(&opt) != 0)
        return luaL_error(L, "steps.context: out of memory");
    if (ot) {
        p.dry = 0;
        parse_options(&p, ot, &opt); /* validated: does not raise */
    }
    char err[1024];
    gs_steps_config cfg = {.output_dir = out, .run_dir = run_dir, .workers = workers, .queue_size = qsize,
                           .options = &opt};
    if (ptype == LUA_TUSERDATA) {
        cfg.provider = gs_provider_borrow(L, 2);
        lua_pushvalue(L, 2);
        lua_setiuservalue(L, ui, 1);
        u->borrowed = 1;
    } else if (gs_provider_open(ptype == LUA_TSTRING ? lua_tostring(L, 2) : "local", &cfg.provider, err,
                                sizeof err) != 0) {
        gs_steps_options_free(&opt);
        luaL_pushfail(L);
        lua_pushfstring(L, "steps.context: %s", err);
        return 2;
    } else {
        cfg.own_provider = 1;
    }
    if (seed >= 0)
        cfg.provider->seed = (uint64_t)seed;
    u->ctx = gs_steps_open(&cfg, err, sizeof err);
    gs_steps_options_free(&opt);
    if (!u->ctx) {
        if (u->borrowed) {
            gs_provider_unborrow(L, 2);
            u->borrowed = 0;
            lua_pushnil(L);
            lua_setiuservalue(L, ui, 1);
        }
        luaL_pushfail(L);
        lua_pushstring(L, err);
        return 2;
    }
    lua_settop(L, ui);
    return 1;
}

/* steps.defaults() -> the default options table (templates included) */
static int l_defaults(lua_State *L)
{
    gs_steps_options o;
    if (gs_steps_options_default(&o) != 0)
        return luaL_error(L, "steps.defaults: out of memory");
    gs_steps_options_free(&o); /* only the plain fields are used below */
    lua_createtable(L, 0, 12);
    for (size_t i = 0; i < sizeof num_options / sizeof num_options[0]; i++) {
        if (num_options[i].integer)
            lua_pushinteger(L, *(int *)((char *)&o + num_options[i].off));
        else
            lua_pushnumber(L, *(double *)((char *)&o + num_options[i].off));
        lua_setfield(L, -2, num_options[i].key);
    }
    lua_pushstring(L, o.resolution);
    lua_setfield(L, -2, "resolution");
    lua_createtable(L, 0, 5);
    for (size_t i = 0; i < 5; i++) {
        lua_pushstring(L, gs_steps_default_template(tpl_names[i]));
        lua_setfield(L, -2, tpl_names[i]);
    }
    lua_setfield(L, -2, "templates");
    return 1;
}

/* steps.slug(name) -> the file-name form of a character name (gs_steps_slug). */
static int l_slug(lua_State *L)
{
    size_t len;
    const char *name = luaL_checklstring(L, 1, &len);
    luaL_argcheck(L, strlen(name) == len, 1, "slug: the name contains a NUL byte");
    char slug[GS_STEPS_SLUG_LEN];
    gs_steps_slug(name, slug, sizeof slug);
    lua_pushstring(L, slug);
    return 1;
}

int luaopen_grokspicy_core_steps(lua_State *L)
{
    static const luaL_Reg ctx_methods[] = {
        {"submit", l_submit},
        {"next_event", l_next_event},
        {"stats", l_stats},
        {"charges", l_charges},
        {"close", l_ctx_close},
        {NULL, NULL},
    };
    static const luaL_Reg ctx_meta[] = {
        {"__gc", l_ctx_gc},
        {"__close", l_ctx_close},
        {"__tostring", l_ctx_tostring},
        {NULL, NULL},
    };
    static const luaL_Reg future_methods[] = {
        {"id", l_fid},
        {"done", l_fdone},
        {"wait", l_fwait},
        {"cancel", l_fcancel},
        {NULL, NULL},
    };
    static const luaL_Reg future_meta[] = {
        {"__gc", l_fgc},
        {"__close", l_fgc},
        {"__tostring", l_ftostring},
        {NULL, NULL},
    };
    static const luaL_Reg fns[] = {
        {"slug", l_slug},
        {"context", l_context},
        {"wait_all", l_wait_all},
        {"defaults", l_defaults},
        {NULL, NULL},
    };
    if (luaL_newmetatable(L, CTX_MT)) {
        luaL_setfuncs(L, ctx_meta, 0);
        luaL_newlib(L, ctx_methods);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
    if (luaL_newmetatable(L, FUTURE_MT)) {
        luaL_setfuncs(L, future_meta, 0);
        luaL_newlib(L, future_methods);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
    if (luaL_newmetatable(L, ARGS_MT)) {
        lua_pushcfunction(L, args_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    luaL_newlib(L, fns);
    return 1;
}
