/*
 * provider.c — grokspicy.provider: the provider registry, the calls through the
 * vtable, plan/score memory, and the Lua face of a provider ("grokspicy.Provider"
 * userdata). Owns no rendering and no wire format: those live in each
 * provider's own file (provider_local.c, later the xAI provider).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "grokspicy.h"
#include "gs_internal.h"
#include "gs_provider.h"
#include "gs_util.h"

/* ---- plan and score memory ---- */


void gs_plan_free(gs_plan *plan)
{
    if (!plan)
        return;
    free(plan->title);
    free(plan->style);
    free(plan->aspect_ratio);
    free(plan->color_palette);
    for (size_t i = 0; i < plan->n_characters; i++) {
        gs_character *c = &plan->characters[i];
        free(c->name);
        free(c->role);
        free(c->visual_description);
        gs_free_strv(c->personality_cues, c->n_personality_cues);
    }
    free(plan->characters);
    for (size_t i = 0; i < plan->n_scenes; i++) {
        gs_scene *s = &plan->scenes[i];
        free(s->title);
        free(s->description);
        gs_free_strv(s->characters_present, s->n_characters_present);
        free(s->setting);
        free(s->camera);
        free(s->mood);
        free(s->action);
        free(s->transition);
    }
    free(plan->scenes);
    free(plan);
}

void gs_score_free(gs_score *score)
{
    if (!score)
        return;
    gs_free_strv(score->names, score->n);
    free(score->scores);
    gs_free_strv(score->issues, score->n_issues);
    free(score->fix_prompt);
    memset(score, 0, sizeof *score);
}

/* ---- billing ---- */

void gs_meter_charge(gs_meter *m, const gs_charge *c)
{
    if (!m)
        return;
    if (!c->update)
        m->ticks += c->ticks;
    else if (c->ticks >= 0)
        m->ticks += c->ticks - c->prior;
    gs_budget_count(m, c);
    if (m->on_charge)
        m->on_charge(m->ud, c);
}

/* ---- plans from a Lua planner ---- */

static char *field_str(lua_State *L, int idx, const char *key, int *bad)
{
    lua_getfield(L, idx, key);
    const char *v = lua_tostring(L, -1);
    char *out = v ? strdup(v) : NULL;
    if (!out)
        *bad = 1;
    lua_pop(L, 1);
    return out;
}

static char **field_strv(lua_State *L, int idx, const char *key, size_t *n, int *bad)
{
    *n = 0;
    if (lua_getfield(L, idx, key) != LUA_TTABLE) {
        lua_pop(L, 1);
        *bad = 1;
        return NULL;
    }
    size_t len = lua_rawlen(L, -1);
    char **v = calloc(len ? len : 1, sizeof(char *));
    if (!v)
        *bad = 1;
    for (size_t i = 0; v && i < len; i++) {
        lua_rawgeti(L, -1, (lua_Integer)i + 1);
        const char *s = lua_tostring(L, -1);
        if (!s || !(v[i] = strdup(s)))
            *bad = 1;
        *n = i + 1;
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return v;
}

/* The plan table at the top of L as a gs_plan; NULL when a field is missing. */
static gs_plan *plan_from_table(lua_State *L)
{
    int t = lua_gettop(L), bad = 0;
    gs_plan *plan = calloc(1, sizeof *plan);
    if (!plan)
        return NULL;
    plan->title = field_str(L, t, "title", &bad);
    plan->style = field_str(L, t, "style", &bad);
    plan->aspect_ratio = field_str(L, t, "aspect_ratio", &bad);
    plan->color_palette = field_str(L, t, "color_palette", &bad);
    lua_getfield(L, t, "characters");
    size_t nc = lua_istable(L, -1) ? lua_rawlen(L, -1) : 0;
    if (nc && (plan->characters = calloc(nc, sizeof *plan->characters)))
        for (size_t i = 0; i < nc; i++, plan->n_characters++) {
            gs_character *c = &plan->characters[i];
            lua_rawgeti(L, -1, (lua_Integer)i + 1);
            int ct = lua_gettop(L);
            c->name = field_str(L, ct, "name", &bad);
            c->role = field_str(L, ct, "role", &bad);
            c->visual_description = field_str(L, ct, "visual_description", &bad);
            c->personality_cues = field_strv(L, ct, "personality_cues", &c->n_personality_cues, &bad);
            lua_pop(L, 1);
        }
    lua_pop(L, 1);
    lua_getfield(L, t, "scenes");
    size_t ns = lua_istable(L, -1) ? lua_rawlen(L, -1) : 0;
    if (ns && (plan->scenes = calloc(ns, sizeof *plan->scenes)))
        for (size_t i = 0; i < ns; i++, plan->n_scenes++) {
            gs_scene *s = &plan->scenes[i];
            lua_rawgeti(L, -1, (lua_Integer)i + 1);
            int st = lua_gettop(L);
            lua_getfield(L, st, "scene_id");
            s->scene_id = (int)lua_tointeger(L, -1);
            lua_getfield(L, st, "duration_seconds");
            s->duration_seconds = (int)lua_tointeger(L, -1);
            lua_pop(L, 2);
            s->title = field_str(L, st, "title", &bad);
            s->description = field_str(L, st, "description", &bad);
            s->characters_present = field_strv(L, st, "characters_present", &s->n_characters_present, &bad);
            s->setting = field_str(L, st, "setting", &bad);
            s->camera = field_str(L, st, "camera", &bad);
            s->mood = field_str(L, st, "mood", &bad);
            s->action = field_str(L, st, "action", &bad);
            s->transition = field_str(L, st, "transition", &bad);
            lua_pop(L, 1);
        }
    lua_pop(L, 1);
    if (bad || !nc || !ns || !plan->characters || !plan->scenes) {
        gs_plan_free(plan);
        return NULL;
    }
    return plan;
}

/* Pushes require(module).plan; 0, or -1 with the message on the stack. */
static int push_planner(lua_State *L, const char *module)
{
    lua_getglobal(L, "require");
    lua_pushstring(L, module);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK)
        return -1;
    if (!lua_istable(L, -1) || lua_getfield(L, -1, "plan") != LUA_TFUNCTION) {
        lua_pushfstring(L, "%s has no plan function", module);
        return -1;
    }
    lua_remove(L, -2);
    return 0;
}

static void push_plan_opts(lua_State *L, int n_scenes, uint64_t seed)
{
    lua_createtable(L, 0, 2);
    lua_pushinteger(L, n_scenes);
    lua_setfield(L, -2, "scenes");
    lua_pushinteger(L, (lua_Integer)seed);
    lua_setfield(L, -2, "seed");
}

/* A Lua planner called from C: a private state, so any thread may plan. */
static gs_plan *plan_in_private_state(gs_provider *p, const char *concept, int n_scenes, uint64_t seed, char *err,
                                      size_t errlen)
{
    lua_State *L = luaL_newstate();
    if (!L) {
        gs_seterr(err, errlen, "plan_story: out of memory");
        return NULL;
    }
    luaL_openlibs(L);
    gs_openlibs(L);
    gs_plan *plan = NULL;
    if (push_planner(L, p->ops->lua_planner) == 0) {
        lua_pushstring(L, concept);
        push_plan_opts(L, n_scenes, seed);
        if (lua_pcall(L, 2, 2, 0) == LUA_OK) {
            if (lua_istable(L, -2)) {
                lua_pop(L, 1);
                if (!(plan = plan_from_table(L)))
                    gs_seterr(err, errlen, "plan_story: %s returned an incomplete plan", p->ops->lua_planner);
            } else {
                gs_seterr(err, errlen, "plan_story: %s", lua_isstring(L, -1) ? lua_tostring(L, -1) : "no plan");
            }
            lua_close(L);
            return plan;
        }
    }
    gs_seterr(err, errlen, "plan_story: %s", lua_isstring(L, -1) ? lua_tostring(L, -1) : "planner failed");
    lua_close(L);
    return NULL;
}

/* ---- vtable calls ---- */

gs_plan *gs_provider_plan_story(gs_provider *p, const char *concept, int n_scenes, uint64_t seed, gs_meter *meter,
                                char *err, size_t errlen)
{
    if (!p->ops->plan_story && p->ops->lua_planner)
        return plan_in_private_state(p, concept, n_scenes, seed, err, errlen);
    return p->ops->plan_story(p, concept, n_scenes, seed, meter, err, errlen);
}

int gs_provider_generate_image(gs_provider *p, const char *prompt, const char *aspect, const char *out_path,
                               gs_meter *meter, char *err, size_t errlen)
{
    return p->ops->generate_image(p, prompt, aspect, out_path, meter, err, errlen);
}

int gs_provider_edit_image(gs_provider *p, const char *prompt, const char *const refs[], size_t n_refs,
                           const char *out_path, gs_meter *meter, char *err, size_t errlen)
{
    return p->ops->edit_image(p, prompt, refs, n_refs, out_path, meter, err, errlen);
}

int gs_provider_generate_video(gs_provider *p, const char *prompt, const char *image_path, double duration_s,
                               const char *aspect, const char *resolution, const char *out_path,
                               gs_meter *meter, char *err, size_t errlen)
{
    return p->ops->generate_video(p, prompt, image_path, duration_s, aspect, resolution, out_path, meter, err,
                                  errlen);
}

int gs_provider_edit_video(gs_provider *p, const char *prompt, const char *video_path, const char *out_path,
                           gs_meter *meter, char *err, size_t errlen)
{
    return p->ops->edit_video(p, prompt, video_path, out_path, meter, err, errlen);
}

int gs_provider_resume_video(gs_provider *p, const char *request_id, const char *out_path, gs_meter *meter,
                             char *err, size_t errlen)
{
    if (!p->ops->resume_video) {
        snprintf(err, errlen, "%s: cannot take over a video job", p->ops->name);
        return GS_PROVIDER_LOST;
    }
    return p->ops->resume_video(p, request_id, out_path, meter, err, errlen);
}

int gs_provider_score_consistency(gs_provider *p, const char *image_path, const char *const refs[],
                                  size_t n_refs, const char *const descriptions[], const char *const names[],
                                  size_t n, gs_score *out, gs_meter *meter, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    return p->ops->score_consistency(p, image_path, refs, n_refs, descriptions, names, n, out, meter, err, errlen);
}

char *gs_provider_reword(gs_provider *p, const char *prompt, const char *reason, gs_meter *meter, char *err,
                         size_t errlen)
{
    char *out = NULL;
    if (p->ops->reword_prompt) {
        if (p->ops->reword_prompt(p, prompt, reason, &out, meter, err, errlen) != 0)
            out = NULL;
    } else {
        static const char soft[] = "A gentle, family-friendly, non-violent rendition: ";
        size_t n = sizeof soft + strlen(prompt);
        if ((out = malloc(n)))
            snprintf(out, n, "%s%s", soft, prompt);
        else
            snprintf(err, errlen, "out of memory");
    }
    return out;
}

const char *gs_provider_name(const gs_provider *p)
{
    return p->ops->name;
}

int gs_provider_max_concurrency(gs_provider *p)
{
    return p->ops->max_concurrency(p);
}

void gs_provider_destroy(gs_provider *p)
{
    if (p) {
        gs_budget_free(p->budget);
        p->budget = NULL;
        p->ops->destroy(p);
    }
}

/* ---- registry ---- */

#define MAX_PROVIDERS 8

static struct {
    const char *name;
    gs_provider_ctor ctor;
} registry[MAX_PROVIDERS] = {{"local", gs_provider_local_open}};
static size_t n_registry = 1;

int gs_provider_register(const char *name, gs_provider_ctor ctor)
{
    for (size_t i = 0; i < n_registry; i++)
        if (strcmp(registry[i].name, name) == 0) {
            registry[i].ctor = ctor;
            return 0;
        }
    if (n_registry == MAX_PROVIDERS)
        return -1;
    registry[n_registry].name = name;
    registry[n_registry].ctor = ctor;
    n_registry++;
    return 0;
}

int gs_provider_open(const char *name, gs_provider **out, char *err, size_t errlen)
{
    *out = NULL;
    for (size_t i = 0; i < n_registry; i++)
        if (strcmp(registry[i].name, name) == 0)
            return registry[i].ctor(out, err, errlen);
    if (err && errlen)
        snprintf(err, errlen, "unknown provider '%s'", name);
    return -1;
}

/* ---- Lua face ---- */

#define PROVIDER_MT "grokspicy.Provider"

typedef struct lprovider {
    gs_provider *p; /* NULL: closed (born closed, see STYLE rule 7) */
    int borrows;    /* steps contexts using p */
    int closed;     /* closed from Lua; p lives on until the last borrower lets go */
    gs_charge *charges; /* billed by this handle's calls, not yet taken by p:charges() */
    size_t n_charges, cap_charges;
    size_t lost_charges; /* could not be kept (out of memory) */
} lprovider;

/* The meter of a call made through the Lua face (on the owner thread): the
 * charges wait in the handle until p:charges() takes them, so a call that
 * fails after paying still reports what it paid. */
static void face_charge(void *ud, const gs_charge *c)
{
    lprovider *u = ud;
    if (u->n_charges == u->cap_charges) {
        size_t nc = u->cap_charges ? u->cap_charges * 2 : 8;
        gs_charge *nv = realloc(u->charges, nc * sizeof *nv);
        if (!nv) {
            u->lost_charges++;
            return;
        }
        u->charges = nv;
        u->cap_charges = nc;
    }
    u->charges[u->n_charges++] = *c;
}

#define FACE_METER(u, p) {face_charge, (u), 0, (p)->budget, 0}

static void set_str(lua_State *L, const char *k, const char *v);

void gs_push_charge(lua_State *L, const gs_charge *c)
{
    lua_createtable(L, 0, 10);
    set_str(L, "endpoint", c->endpoint);
    set_str(L, "model", c->model);
    set_str(L, "request_id", c->request_id);
    set_str(L, "outcome", c->outcome);
    set_str(L, "detail", c->detail);
    lua_pushinteger(L, c->ticks);
    lua_setfield(L, -2, "ticks");
    if (c->estimated >= 0) {
        lua_pushboolean(L, c->estimated);
        lua_setfield(L, -2, "estimated");
    }
    lua_pushboolean(L, c->update);
    lua_setfield(L, -2, "update");
}

static gs_provider *check_open(lua_State *L, const char *fn)
{
    lprovider *u = luaL_checkudata(L, 1, PROVIDER_MT);
    if (!u->p || u->closed)
        luaL_error(L, "provider:%s: provider is closed", fn);
    return u->p;
}

static int push_fail(lua_State *L, const char *err)
{
    luaL_pushfail(L);
    lua_pushstring(L, err);
    return 2;
}

static int push_ok_cost(lua_State *L, const gs_meter *m)
{
    lua_pushboolean(L, 1);
    lua_pushnumber(L, (double)m->ticks / (double)GS_TICKS_PER_USD);
    return 2;
}

static lprovider *face(lua_State *L) { return lua_touserdata(L, 1); }

/* provider.open(name, {seed=, voice=, budget=, spent=}) -> p | nil, err; voice = false: silent local clips;
 * budget: USD the run may spend, spent: USD it spent before (its ledger) */
static int l_open(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    lua_Integer seed = 0;
    int no_voice = 0;
    int64_t budget = -1, spent = 0; /* budget -1: no limit */
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        lua_getfield(L, 2, "seed");
        if (!lua_isnil(L, -1)) {
            if (!lua_isinteger(L, -1))
                return luaL_argerror(L, 2, "provider.open: seed must be an integer");
            seed = lua_tointeger(L, -1);
        }
        lua_getfield(L, 2, "voice");
        if (!lua_isnil(L, -1) && !lua_isboolean(L, -1))
            return luaL_argerror(L, 2, "provider.open: voice must be a boolean");
        no_voice = lua_isboolean(L, -1) && !lua_toboolean(L, -1);
        lua_pop(L, 2);
        /* budget: USD the run may spend in all; spent: USD it spent before (a resume) */
        gs_opts op = {L, "provider.open", NULL, NULL};
        double b = gs_opt_num(&op, 2, "budget", 0, -1, 0, 1e6);
        double sp = gs_opt_num(&op, 2, "spent", 0, 0, 0, 1e9);
        if (b >= 0) {
            budget = llround(b * (double)GS_TICKS_PER_USD);
            spent = llround(sp * (double)GS_TICKS_PER_USD);
        }
    }
    lprovider *u = lua_newuserdatauv(L, sizeof *u, 0);
    memset(u, 0, sizeof *u);
    luaL_setmetatable(L, PROVIDER_MT);
    char err[1024];
    if (gs_provider_open(name, &u->p, err, sizeof err) != 0)
        return push_fail(L, err);
    u->p->seed = (uint64_t)seed;
    u->p->no_voice = no_voice;
    if (budget >= 0 && !(u->p->budget = gs_budget_new(budget, spent)))
        return luaL_error(L, "provider.open: out of memory");
    return 1;
}

static void set_str(lua_State *L, const char *k, const char *v)
{
    lua_pushstring(L, v ? v : "");
    lua_setfield(L, -2, k);
}

static void push_strv(lua_State *L, char **v, size_t n)
{
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_pushstring(L, v[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
}

/* Pushes the plan as a table; called from a protected helper so the plan is
 * freed even if a push raises (memory error). */
static int push_plan(lua_State *L)
{
    const gs_plan *plan = lua_touserdata(L, 1);
    lua_createtable(L, 0, 6);
    set_str(L, "title", plan->title);
    set_str(L, "style", plan->style);
    set_str(L, "aspect_ratio", plan->aspect_ratio);
    set_str(L, "color_palette", plan->color_palette);
    lua_createtable(L, (int)plan->n_characters, 0);
    for (size_t i = 0; i < plan->n_characters; i++) {
        const gs_character *c = &plan->characters[i];
        lua_createtable(L, 0, 4);
        set_str(L, "name", c->name);
        set_str(L, "role", c->role);
        set_str(L, "visual_description", c->visual_description);
        push_strv(L, c->personality_cues, c->n_personality_cues);
        lua_setfield(L, -2, "personality_cues");
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_setfield(L, -2, "characters");
    lua_createtable(L, (int)plan->n_scenes, 0);
    for (size_t i = 0; i < plan->n_scenes; i++) {
        const gs_scene *s = &plan->scenes[i];
        lua_createtable(L, 0, 10);
        lua_pushinteger(L, s->scene_id);
        lua_setfield(L, -2, "scene_id");
        set_str(L, "title", s->title);
        set_str(L, "description", s->description);
        push_strv(L, s->characters_present, s->n_characters_present);
        lua_setfield(L, -2, "characters_present");
        set_str(L, "setting", s->setting);
        set_str(L, "camera", s->camera);
        set_str(L, "mood", s->mood);
        set_str(L, "action", s->action);
        lua_pushinteger(L, s->duration_seconds);
        lua_setfield(L, -2, "duration_seconds");
        set_str(L, "transition", s->transition);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_setfield(L, -2, "scenes");
    return 1;
}

/* p:plan_story(concept, {scenes=3, seed=}) -> plan table | nil, err (its cost: p:charges()) */
static int l_plan_story(lua_State *L)
{
    gs_provider *p = check_open(L, "plan_story");
    const char *concept = luaL_checkstring(L, 2);
    lua_Integer scenes = 3, seed = (lua_Integer)p->seed;
    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        if (lua_getfield(L, 3, "scenes") != LUA_TNIL) {
            if (!lua_isinteger(L, -1))
                return luaL_argerror(L, 3, "plan_story: scenes must be an integer");
            scenes = lua_tointeger(L, -1);
        }
        if (lua_getfield(L, 3, "seed") != LUA_TNIL) {
            if (!lua_isinteger(L, -1))
                return luaL_argerror(L, 3, "plan_story: seed must be an integer");
            seed = lua_tointeger(L, -1);
        }
        lua_pop(L, 2);
    }
    if (scenes < 1 || scenes > GS_PLAN_MAX_SCENES)
        return luaL_argerror(L, 3, lua_pushfstring(L, "plan_story: scenes must be 1..%d", GS_PLAN_MAX_SCENES));
    if (!p->ops->plan_story && p->ops->lua_planner) {
        /* the planner runs here, in the caller's state: a lexicon extended here applies */
        if (push_planner(L, p->ops->lua_planner) != 0)
            return push_fail(L, lua_tostring(L, -1));
        lua_pushvalue(L, 2);
        push_plan_opts(L, (int)scenes, (uint64_t)seed);
        if (lua_pcall(L, 2, 2, 0) != LUA_OK)
            return push_fail(L, lua_tostring(L, -1));
        return 2;
    }
    char err[1024];
    gs_meter m = FACE_METER(face(L), p);
    gs_plan *plan = gs_provider_plan_story(p, concept, (int)scenes, (uint64_t)seed, &m, err, sizeof err);
    gs_meter_release(&m);
    if (!plan)
        return push_fail(L, err);
    lua_pushcfunction(L, push_plan);
    lua_pushlightuserdata(L, plan);
    int st = lua_pcall(L, 1, 1, 0);
    gs_plan_free(plan);
    if (st != LUA_OK)
        return lua_error(L);
    return 1;
}

/* p:generate_image(prompt, aspect, out) -> true, cost | nil, err */
static int l_generate_image(lua_State *L)
{
    gs_provider *p = check_open(L, "generate_image");
    const char *prompt = luaL_checkstring(L, 2);
    const char *aspect = luaL_optstring(L, 3, "16:9");
    const char *out = luaL_checkstring(L, 4);
    char err[2048];
    gs_meter m = FACE_METER(face(L), p);
    int rc = gs_provider_generate_image(p, prompt, aspect, out, &m, err, sizeof err);
    gs_meter_release(&m);
    if (rc != 0)
        return push_fail(L, err);
    return push_ok_cost(L, &m);
}

/* Reads up to max strings from the array at idx into v (pointers owned by Lua). */
static size_t check_strings(lua_State *L, int idx, const char **v, size_t max, const char *what)
{
    if (lua_isnoneornil(L, idx))
        return 0;
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_Integer n = luaL_len(L, idx);
    if (n < 0 || (size_t)n > max)
        luaL_error(L, "%s: at most %d entries", what, (int)max);
    for (lua_Integer i = 1; i <= n; i++) {
        if (lua_rawgeti(L, idx, i) != LUA_TSTRING)
            luaL_error(L, "%s: entry %d is not a string", what, (int)i);
        v[i - 1] = lua_tostring(L, -1); /* anchored by the table */
        lua_pop(L, 1);
    }
    return (size_t)n;
}

/* p:edit_image(prompt, {refs}, out) -> true, cost | nil, err */
static int l_edit_image(lua_State *L)
{
    gs_provider *p = check_open(L, "edit_image");
    const char *prompt = luaL_checkstring(L, 2);
    const char *refs[3];
    luaL_checktype(L, 3, LUA_TTABLE);
    size_t n = check_strings(L, 3, refs, 3, "edit_image: refs");
    const char *out = luaL_checkstring(L, 4);
    luaL_argcheck(L, n >= 1, 3, "edit_image: at least one reference image");
    char err[2048];
    gs_meter m = FACE_METER(face(L), p);
    int rc = gs_provider_edit_image(p, prompt, refs, n, out, &m, err, sizeof err);
    gs_meter_release(&m);
    if (rc != 0)
        return push_fail(L, err);
    return push_ok_cost(L, &m);
}

/* p:generate_video(prompt, image, duration, aspect, resolution, out) -> true, cost | nil, err */
static int l_generate_video(lua_State *L)
{
    gs_provider *p = check_open(L, "generate_video");
    const char *prompt = luaL_checkstring(L, 2);
    const char *image = luaL_checkstring(L, 3);
    lua_Number dur = luaL_checknumber(L, 4);
    const char *aspect = luaL_optstring(L, 5, "16:9");
    const char *res = luaL_optstring(L, 6, "720p");
    const char *out = luaL_checkstring(L, 7);
    luaL_argcheck(L, dur >= 1 && dur <= 15, 4, "generate_video: duration must be 1..15 s");
    char err[2048];
    gs_meter m = FACE_METER(face(L), p);
    int rc = gs_provider_generate_video(p, prompt, image, dur, aspect, res, out, &m, err, sizeof err);
    gs_meter_release(&m);
    if (rc != 0)
        return push_fail(L, err);
    return push_ok_cost(L, &m);
}

/* p:edit_video(prompt, video, out) -> true, cost | nil, err */
static int l_edit_video(lua_State *L)
{
    gs_provider *p = check_open(L, "edit_video");
    const char *prompt = luaL_checkstring(L, 2);
    const char *video = luaL_checkstring(L, 3);
    const char *out = luaL_checkstring(L, 4);
    char err[2048];
    gs_meter m = FACE_METER(face(L), p);
    int rc = gs_provider_edit_video(p, prompt, video, out, &m, err, sizeof err);
    gs_meter_release(&m);
    if (rc != 0)
        return push_fail(L, err);
    return push_ok_cost(L, &m);
}

#define MAX_CHARS 8

/* Pushes the score table; protected like push_plan. */
static int push_score(lua_State *L)
{
    const gs_score *s = lua_touserdata(L, 1);
    lua_createtable(L, 0, 4);
    lua_pushnumber(L, s->overall_score);
    lua_setfield(L, -2, "overall_score");
    lua_createtable(L, 0, (int)s->n);
    for (size_t i = 0; i < s->n; i++) {
        lua_pushnumber(L, s->scores[i]);
        lua_setfield(L, -2, s->names[i]);
    }
    lua_setfield(L, -2, "per_character");
    push_strv(L, s->issues, s->n_issues);
    lua_setfield(L, -2, "issues");
    set_str(L, "fix_prompt", s->fix_prompt);
    return 1;
}

/* p:score_consistency(image, {refs}, {names}, {descriptions}) -> score table | nil, err */
static int l_score_consistency(lua_State *L)
{
    gs_provider *p = check_open(L, "score_consistency");
    const char *image = luaL_checkstring(L, 2);
    const char *refs[MAX_CHARS], *names[MAX_CHARS], *descs[MAX_CHARS];
    size_t n_refs = check_strings(L, 3, refs, MAX_CHARS, "score_consistency: refs");
    luaL_checktype(L, 4, LUA_TTABLE);
    size_t n = check_strings(L, 4, names, MAX_CHARS, "score_consistency: names");
    size_t n_desc = check_strings(L, 5, descs, MAX_CHARS, "score_consistency: descriptions");
    luaL_argcheck(L, n >= 1, 4, "score_consistency: at least one character name");
    luaL_argcheck(L, n_refs <= n, 3, "score_consistency: more refs than names");
    for (size_t i = n_desc; i < n; i++)
        descs[i] = "";
    char err[2048];
    gs_score score;
    gs_meter m = FACE_METER(face(L), p);
    int rc = gs_provider_score_consistency(p, image, refs, n_refs, descs, names, n, &score, &m, err, sizeof err);
    gs_meter_release(&m);
    if (rc != 0)
        return push_fail(L, err);
    lua_pushcfunction(L, push_score);
    lua_pushlightuserdata(L, &score);
    int st = lua_pcall(L, 1, 1, 0);
    gs_score_free(&score);
    if (st != LUA_OK)
        return lua_error(L);
    return 1;
}

/* p:charges() -> the billed requests of this handle's calls since the last
 * p:charges(), oldest first (tables as gs_push_charge makes them). Works on a
 * closed handle too, so nothing paid is lost with it. */
static int l_charges(lua_State *L)
{
    lprovider *u = luaL_checkudata(L, 1, PROVIDER_MT);
    if (u->lost_charges) {
        size_t lost = u->lost_charges;
        u->lost_charges = 0;
        return luaL_error(L, "provider:charges: %d charges were lost (out of memory)", (int)lost);
    }
    lua_createtable(L, (int)u->n_charges, 0);
    for (size_t i = 0; i < u->n_charges; i++) {
        gs_push_charge(L, &u->charges[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    u->n_charges = 0; /* every one is in the table: nothing raised */
    return 1;
}

/* p:name() -> "local" | "xai" */
static int l_name(lua_State *L)
{
    lua_pushstring(L, gs_provider_name(check_open(L, "name")));
    return 1;
}

/* p:max_concurrency() -> how many calls the provider takes at once (a steps context caps its
 * workers by it) */
static int l_max_concurrency(lua_State *L)
{
    lua_pushinteger(L, gs_provider_max_concurrency(check_open(L, "max_concurrency")));
    return 1;
}

/* close, __close and __gc: idempotent. While a steps context borrows the
 * provider, the handle closes at once and the provider itself is destroyed
 * when the last borrower lets go (never under a running worker). */
static int l_close(lua_State *L)
{
    lprovider *u = luaL_checkudata(L, 1, PROVIDER_MT);
    u->closed = 1;
    if (u->p && u->borrows == 0) {
        gs_provider_destroy(u->p);
        u->p = NULL;
    }
    return 0;
}

/* __gc: close, and the charges nobody took go with the handle. */
static int l_gc(lua_State *L)
{
    lprovider *u = luaL_checkudata(L, 1, PROVIDER_MT);
    l_close(L);
    free(u->charges);
    u->charges = NULL;
    u->n_charges = u->cap_charges = 0;
    return 0;
}

gs_provider *gs_provider_borrow(lua_State *L, int idx)
{
    lprovider *u = luaL_testudata(L, idx, PROVIDER_MT);
    if (!u || !u->p || u->closed)
        return NULL;
    u->borrows++;
    return u->p;
}

void gs_provider_unborrow(lua_State *L, int idx)
{
    lprovider *u = luaL_testudata(L, idx, PROVIDER_MT);
    if (u && u->borrows > 0 && --u->borrows == 0 && u->closed && u->p) {
        gs_provider_destroy(u->p);
        u->p = NULL;
    }
}

static int l_tostring(lua_State *L)
{
    lprovider *u = luaL_checkudata(L, 1, PROVIDER_MT);
    if (u->p && !u->closed)
        lua_pushfstring(L, "grokspicy.Provider (%s) %p", gs_provider_name(u->p), (void *)u);
    else
        lua_pushfstring(L, "grokspicy.Provider (closed) %p", (void *)u);
    return 1;
}

int luaopen_grokspicy_core_provider(lua_State *L);
int luaopen_grokspicy_core_provider(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"plan_story", l_plan_story},
        {"generate_image", l_generate_image},
        {"edit_image", l_edit_image},
        {"generate_video", l_generate_video},
        {"edit_video", l_edit_video},
        {"score_consistency", l_score_consistency},
        {"charges", l_charges},
        {"name", l_name},
        {"max_concurrency", l_max_concurrency},
        {"close", l_close},
        {NULL, NULL},
    };
    static const luaL_Reg meta[] = {
        {"__gc", l_gc},
        {"__close", l_close},
        {"__tostring", l_tostring},
        {NULL, NULL},
    };
    static const luaL_Reg fns[] = {
        {"open", l_open},
        {NULL, NULL},
    };
    gs_provider_register("xai", gs_provider_xai_open); /* idempotent; at require time on the main thread */
    if (luaL_newmetatable(L, PROVIDER_MT)) {
        luaL_setfuncs(L, meta, 0);
        luaL_newlib(L, methods);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
    luaL_newlib(L, fns);
    /* What C relies on in a plan; grokspicy.plan checks every plan against it. */
    lua_createtable(L, 0, 7);
    lua_pushinteger(L, GS_PLAN_DEFAULT_DURATION);
    lua_setfield(L, -2, "default_duration");
#define ASPECT_ITEM(s) s,
    static const char *const aspects[] = {GS_PLAN_ASPECTS(ASPECT_ITEM, )};
#undef ASPECT_ITEM
    lua_createtable(L, (int)(sizeof aspects / sizeof aspects[0]), 0);
    for (size_t i = 0; i < sizeof aspects / sizeof aspects[0]; i++) {
        lua_pushstring(L, aspects[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_setfield(L, -2, "aspects");
    lua_pushinteger(L, GS_PLAN_MIN_DURATION);
    lua_setfield(L, -2, "min_duration");
    lua_pushinteger(L, GS_PLAN_MAX_DURATION);
    lua_setfield(L, -2, "max_duration");
    lua_pushinteger(L, GS_PLAN_MAX_SCENE_ID);
    lua_setfield(L, -2, "max_scene_id");
    lua_pushinteger(L, GS_PLAN_MAX_SCENES);
    lua_setfield(L, -2, "max_scenes");
    lua_pushinteger(L, GS_PLAN_MAX_CHARACTERS);
    lua_setfield(L, -2, "max_characters");
    lua_setfield(L, -2, "PLAN_LIMITS");
    /* The plan's fields and types, as the xAI planner asks for them (JSON text). */
    lua_pushstring(L, GS_PLAN_SCHEMA_JSON);
    lua_setfield(L, -2, "PLAN_SCHEMA");
    return 1;
}
