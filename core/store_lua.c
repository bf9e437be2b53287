/*
 * store_lua.c — grokspicy.store, Lua binding: the "grokspicy.Db" userdata, the
 * guarded() error discipline, rows to and from Lua tables, the row writers,
 * and luaopen_grokspicy_core_store (the method tables).
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <sqlite3.h>

#include "gs_owner.h"
#include "store_internal.h"

/* ---------------------------------------------------------------- Lua binding */

gs_db *check_open(lua_State *L, int idx)
{
    ldb *u = luaL_checkudata(L, idx, DB_MT);
    if (!u->db)
        luaL_error(L, "attempt to use a closed store connection");
    return u->db;
}

/*
 * Runs body(args...) protected. On error: reset statements, roll back every level
 * the body opened, then re-raise the same error value.
 */
int guarded(lua_State *L, lua_CFunction body)
{
    gs_db *db = arg_db(L);
    int depth = db->depth;
    int nargs = lua_gettop(L);
    lua_pushvalue(L, JSON_UV);
    lua_pushcclosure(L, body, 1);
    lua_insert(L, 1);                                  /* body, args... */
    if (lua_pcall(L, nargs, LUA_MULTRET, 0) != LUA_OK) { /* err */
        abort_op(db, depth);
        return lua_error(L);
    }
    return lua_gettop(L);
}

/* Raises "op: <sqlite message>" after resetting st and rolling back to depth. */
int raise_db(lua_State *L, gs_db *db, int depth, const char *op)
{
    db->fail_rc = sqlite3_errcode(db->h);
    lua_pushfstring(L, "%s: %s", op, sqlite3_errmsg(db->h));
    abort_op(db, depth);
    return lua_error(L);
}

int raise_msg(lua_State *L, gs_db *db, int depth, const char *msg)
{
    lua_pushstring(L, msg);
    abort_op(db, depth);
    return lua_error(L);
}

int push_run_found(lua_State *L, int found, lua_Integer run_id)
{
    if (!found) {
        luaL_pushfail(L);
        lua_pushfstring(L, "run %I not found", run_id);
        lua_pushliteral(L, "notfound");
        return 3;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* Pushes the JSON text for the value at idx (string kept, table encoded). */
const char *push_json(lua_State *L, int idx, int as_array, const char *op, const char *what)
{
    idx = lua_absindex(L, idx);
    if (lua_type(L, idx) == LUA_TSTRING) {
        lua_pushvalue(L, idx);
        return lua_tostring(L, -1);
    }
    if (lua_type(L, idx) != LUA_TTABLE)
        luaL_error(L, "%s: %s must be a table or a JSON string, got %s", op, what, luaL_typename(L, idx));
    lua_pushnil(L);
    if (!lua_next(L, idx)) {
        lua_pushstring(L, as_array ? "[]" : "{}"); /* cjson writes {} for every empty table */
        return lua_tostring(L, -1);
    }
    lua_pop(L, 2);
    lua_getfield(L, JSON_UV, "encode");
    lua_pushvalue(L, idx);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK)
        luaL_error(L, "%s: %s: %s", op, what, lua_tostring(L, -1));
    return lua_tostring(L, -1);
}

/* cjson 2.1 decodes every number as a float: 3 comes back as 3.0 and prints "3.0". */
static void integers_back(lua_State *L, int idx, int depth)
{
    if (depth > 32 || !lua_checkstack(L, 3))
        return;
    idx = lua_absindex(L, idx);
    lua_pushnil(L);
    while (lua_next(L, idx)) { /* key, value */
        lua_Integer v;
        if (lua_type(L, -1) == LUA_TTABLE) {
            integers_back(L, -1, depth + 1);
        } else if (lua_type(L, -1) == LUA_TNUMBER && !lua_isinteger(L, -1) &&
                   lua_numbertointeger(lua_tonumber(L, -1), &v) && (lua_Number)v == lua_tonumber(L, -1)) {
            lua_pushvalue(L, -2);
            lua_pushinteger(L, v);
            lua_rawset(L, idx); /* replacing an existing key's value is allowed during lua_next */
        }
        lua_pop(L, 1);
    }
}

static void push_decoded(lua_State *L, const char *s, size_t len)
{
    lua_getfield(L, JSON_UV, "decode");
    lua_pushlstring(L, s, len);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) { /* not JSON after all: hand back the text */
        lua_pop(L, 1);
        lua_pushlstring(L, s, len);
    } else if (lua_type(L, -1) == LUA_TTABLE) {
        integers_back(L, -1, 0);
    }
}

static int is_json_column(const char *name)
{
    return strcmp(name, "personality_cues") == 0 || strcmp(name, "characters_present") == 0 ||
           strcmp(name, "data") == 0 || strcmp(name, "asset_json") == 0;
}

/* Pushes the current row as a table; NULL columns are absent. */
void push_row(lua_State *L, sqlite3_stmt *st)
{
    int n = sqlite3_column_count(st);
    lua_createtable(L, 0, n);
    for (int i = 0; i < n; i++) {
        const char *name = sqlite3_column_name(st, i);
        switch (sqlite3_column_type(st, i)) {
        case SQLITE_INTEGER: lua_pushinteger(L, sqlite3_column_int64(st, i)); break;
        case SQLITE_FLOAT: lua_pushnumber(L, sqlite3_column_double(st, i)); break;
        case SQLITE_NULL: continue;
        default: {
            const char *s = (const char *)sqlite3_column_text(st, i);
            size_t len = (size_t)sqlite3_column_bytes(st, i);
            if (is_json_column(name))
                push_decoded(L, s, len);
            else
                lua_pushlstring(L, s, len);
        }
        }
        lua_setfield(L, -2, name);
    }
}

/* Pushes an array of every row st returns; returns the last sqlite3_step code. */
int push_rows(lua_State *L, sqlite3_stmt *st)
{
    int rc;
    lua_Integer n = 0;
    lua_newtable(L);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        push_row(L, st);
        lua_rawseti(L, -2, ++n);
    }
    return rc;
}

/*
 * Pushes row[f->name] checked against f (nil when absent and optional); raises
 * naming op, the row and the field. JSON fields are pushed encoded.
 */
void push_field(lua_State *L, int row, const struct field *f, const char *op, const char *label)
{
    lua_getfield(L, row, f->name);
    int t = lua_type(L, -1);
    const char *want = NULL;
    if (t == LUA_TNIL) {
        if (f->required)
            luaL_error(L, "%s: %s.%s is required", op, label, f->name);
        return;
    }
    switch (f->kind) {
    case F_STR:
        if (t != LUA_TSTRING && t != LUA_TNUMBER)
            want = "a string";
        else
            lua_tostring(L, -1); /* numbers become text in place */
        break;
    case F_INT:
        if (!lua_isinteger(L, -1)) {
            int exact = 0;
            lua_Integer v = t == LUA_TNUMBER ? lua_tointegerx(L, -1, &exact) : 0; /* 3.0 yes, 3.5 no */
            if (exact) {
                lua_pop(L, 1);
                lua_pushinteger(L, v);
            } else {
                want = "an integer";
            }
        }
        break;
    case F_NUM:
        if (t != LUA_TNUMBER)
            want = "a number";
        break;
    default: {
        char what[160];
        snprintf(what, sizeof what, "%s.%s", label, f->name);
        push_json(L, -1, f->kind == F_JARR, op, what);
        lua_remove(L, -2);
    }
    }
    if (want)
        luaL_error(L, "%s: %s.%s must be %s, got %s", op, label, f->name, want, luaL_typename(L, -1));
}

void bind_field(lua_State *L, sqlite3_stmt *st, int param, int idx, const struct field *f)
{
    if (lua_isnil(L, idx)) {
        if (!f->dflt)
            sqlite3_bind_null(st, param);
        else if (f->kind == F_INT)
            sqlite3_bind_int64(st, param, atoll(f->dflt));
        else if (f->kind == F_NUM)
            sqlite3_bind_double(st, param, atof(f->dflt));
        else
            sqlite3_bind_text(st, param, f->dflt, -1, SQLITE_STATIC);
        return;
    }
    if (f->kind == F_INT) {
        sqlite3_bind_int64(st, param, lua_tointeger(L, idx));
    } else if (f->kind == F_NUM) {
        sqlite3_bind_double(st, param, lua_tonumber(L, idx));
    } else {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        sqlite3_bind_text64(st, param, s, len, SQLITE_STATIC, SQLITE_UTF8);
    }
}

/* Checks every field of the row at idx, leaving the stack as it was. */
static void check_row(lua_State *L, int idx, const struct rowspec *rs, const char *label)
{
    if (!lua_istable(L, idx))
        luaL_error(L, "%s: %s must be a table, got %s", rs->op, label, luaL_typename(L, idx));
    int top = lua_gettop(L);
    luaL_checkstack(L, rs->nf + 4, NULL);
    for (int i = 0; i < rs->nf; i++)
        push_field(L, idx, &rs->f[i], rs->op, label);
    lua_settop(L, top);
}

static void row_label(char *buf, size_t n, const struct rowspec *rs, int single, lua_Integer i)
{
    if (single)
        snprintf(buf, n, "%s", rs->what);
    else
        snprintf(buf, n, "%s[%lld]", rs->what, (long long)i);
}

/* Pushes row i of argument 3 (argument 3 itself for a single row), names it in
 * buf for error messages, and returns its stack index. */
static int push_arg_row(lua_State *L, char *buf, size_t n, const struct rowspec *rs, int single,
                        lua_Integer i)
{
    row_label(buf, n, rs, single, i);
    if (single)
        lua_pushvalue(L, 3);
    else
        lua_geti(L, 3, i);
    return lua_gettop(L);
}

/* Validates (conn, run_id, row-or-array): everything before any SQL. */
static lua_Integer check_rows(lua_State *L, const struct rowspec *rs, int single)
{
    check_open(L, 1);
    luaL_checkinteger(L, 2);
    luaL_checktype(L, 3, LUA_TTABLE);
    lua_settop(L, 3);
    lua_Integer n = single ? 1 : luaL_len(L, 3);
    char label[64];
    for (lua_Integer i = 1; i <= n; i++) {
        push_arg_row(L, label, sizeof label, rs, single, i);
        check_row(L, 4, rs, label);
        lua_pop(L, 1);
    }
    return n;
}

/* Body of the row writers: upvalue 2 carries the spec, upvalue 3 "single". */
static int write_rows_body(lua_State *L, const struct rowspec *rs, int single)
{
    gs_db *db = arg_db(L);
    int depth = db->depth;
    char err[GS_STORE_ERRLEN];
    lua_Integer run_id = lua_tointeger(L, 2);
    lua_Integer n = single ? 1 : luaL_len(L, 3);
    sqlite3_stmt *st = get_stmt(db, rs->stmt, rs->op, err, sizeof err);
    if (!st)
        return raise_msg(L, db, depth, err);
    int opened = op_begin(db, n > 1, rs->op, err, sizeof err);
    if (opened < 0)
        return raise_msg(L, db, depth, err);
    char label[64];
    luaL_checkstack(L, rs->nf + 8, NULL);
    for (lua_Integer i = 1; i <= n; i++) {
        int row = push_arg_row(L, label, sizeof label, rs, single, i);
        sqlite3_bind_int64(st, 1, run_id);
        for (int k = 0; k < rs->nf; k++) {
            push_field(L, row, &rs->f[k], rs->op, label); /* pushes one value, nil when absent */
            bind_field(L, st, k + 2, -1, &rs->f[k]);
        }
        if (sqlite3_step(st) != SQLITE_DONE)
            return raise_db(L, db, depth, rs->op);
        sqlite3_reset(st);
        lua_settop(L, row - 1);
    }
    if (op_end(db, opened, 1, rs->op, err, sizeof err))
        return raise_msg(L, db, depth, err);
    lua_pushboolean(L, 1);
    return 1;
}

#define ROW_WRITER(fname, spec, single)                                                   \
    static int fname##_body(lua_State *L) { return write_rows_body(L, &spec, single); }   \
    static int l_##fname(lua_State *L)                                                    \
    {                                                                                     \
        check_rows(L, &spec, single);                                                     \
        return guarded(L, fname##_body);                                                  \
    }
/* store.insert_characters(conn, run_id, {rows}) -> true: a plan's characters (name, role,
 * visual_description, personality_cues), in one transaction */
ROW_WRITER(insert_characters, spec_chars, 0)
/* store.insert_scenes(conn, run_id, {rows}) -> true: a plan's scenes (scene_id, title,
 * description, characters_present, setting, camera, mood, action, duration_seconds, transition) */
ROW_WRITER(insert_scenes, spec_scenes, 0)
/* store.upsert_character_asset(conn, run_id, {name, portrait_url, portrait_path,
 * visual_description, consistency_score, generation_attempts, cost_usd, note}) -> true */
ROW_WRITER(upsert_character_asset, spec_casset, 1)
/* store.upsert_keyframe_asset(conn, run_id, {scene_id, keyframe_url, keyframe_path,
 * consistency_score, generation_attempts, edit_passes, video_prompt, cost_usd, note}) -> true */
ROW_WRITER(upsert_keyframe_asset, spec_kasset, 1)
/* store.upsert_video_asset(conn, run_id, {scene_id, video_url, video_path, duration,
 * first_frame_path, last_frame_path, consistency_score, correction_passes, cost_usd, note}) ->
 * true */
ROW_WRITER(upsert_video_asset, spec_vasset, 1)

/* The result cache (schema 5). */
static int cache_put_body(lua_State *L) { return write_rows_body(L, &spec_cache, 1); }
/* store.cache_put(conn, {key, kind, path, sha256, run_id, score, attempts, cost_usd, asset_json})
 * -> true: an accepted asset under the key of what produced it (replaces an entry of that key) */
static int l_cache_put(lua_State *L)
{
    check_open(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    if (lua_getfield(L, 2, "run_id") != LUA_TNUMBER || !lua_isinteger(L, -1))
        return luaL_error(L, "cache_put: entry.run_id must be an integer, got %s", luaL_typename(L, -1));
    lua_insert(L, 2); /* conn, run_id, entry */
    check_rows(L, &spec_cache, 1);
    return guarded(L, cache_put_body);
}

static int cache_get_body(lua_State *L)
{
    gs_db *db = arg_db(L);
    int depth = db->depth;
    char err[GS_STORE_ERRLEN];
    sqlite3_stmt *st = get_stmt(db, ST_CACHE_GET, "cache_get", err, sizeof err);
    if (!st)
        return raise_msg(L, db, depth, err);
    size_t len;
    const char *key = lua_tolstring(L, 2, &len);
    sqlite3_bind_text64(st, 1, key, len, SQLITE_STATIC, SQLITE_UTF8);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        push_row(L, st);
    else if (rc == SQLITE_DONE)
        lua_pushnil(L);
    else
        return raise_db(L, db, depth, "cache_get");
    sqlite3_reset(st);
    return 1;
}

/* store.cache_get(conn, key) -> {key, kind, path, sha256, run_id, score, attempts, cost_usd,
 * asset_json, created_at} | nil */
static int l_cache_get(lua_State *L)
{
    check_open(L, 1);
    luaL_checkstring(L, 2);
    lua_settop(L, 2);
    return guarded(L, cache_get_body);
}

/* Shared by the module table and the connection methods: both call styles work. */
static const luaL_Reg db_methods[] = {
    {"insert_run", l_insert_run},
    {"update_run", l_update_run},
    {"insert_characters", l_insert_characters},
    {"insert_scenes", l_insert_scenes},
    {"upsert_character_asset", l_upsert_character_asset},
    {"upsert_keyframe_asset", l_upsert_keyframe_asset},
    {"upsert_video_asset", l_upsert_video_asset},
    {"get_run", l_get_run},
    {"list_runs", l_list_runs},
    {"count_runs", l_count_runs},
    {"append_event", l_append_event},
    {"events_since", l_events_since},
    {"max_event_id", l_max_event_id},
    {"heartbeat", l_heartbeat},
    {"mark_interrupted", l_mark_interrupted},
    {"request_cancel", l_request_cancel},
    {"cancel_requested", l_cancel_requested},
    {"claim_run", l_claim_run},
    {"adopt_run", l_adopt_run},
    {"own_run", l_own_run},
    {"record_charge", l_record_charge},
    {"integrity_check", l_integrity_check},
    {"busy_timeout", l_busy_timeout},
    {"transaction", l_transaction},
    {"try", l_try},
    {"data_version", l_data_version},
    {"cache_get", l_cache_get},
    {"cache_put", l_cache_put},
    {"close", l_close},
    {NULL, NULL},
};

static const luaL_Reg module_only[] = {
    {"init_db", l_init_db},
    {"now", l_now},
    {"monotonic", l_monotonic},
    {"release_run", l_release_run},
    {"owner_fd", l_owner_fd},
    {"owner_identity", l_owner_identity},
    {NULL, NULL},
};

int luaopen_grokspicy_core_store(lua_State *L)
{
    /* A private cjson instance, so another module's cjson settings do not change ours. */
    lua_getglobal(L, "require");
    lua_pushliteral(L, "cjson");
    lua_call(L, 1, 1);
    if (lua_getfield(L, -1, "new") == LUA_TFUNCTION) {
        lua_call(L, 0, 1);
        lua_remove(L, -2);
    } else {
        lua_pop(L, 1);
    }
    int json = lua_gettop(L);

    if (luaL_newmetatable(L, DB_MT)) {
        lua_newtable(L);
        lua_pushvalue(L, json);
        luaL_setfuncs(L, db_methods, 1);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, l_close);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, l_close);
        lua_setfield(L, -2, "__close");
        lua_pushcfunction(L, l_tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_pop(L, 1);

    lua_newtable(L);
    lua_pushvalue(L, json);
    luaL_setfuncs(L, db_methods, 1);
    luaL_setfuncs(L, module_only, 0);
    lua_pushinteger(L, GS_STORE_SCHEMA_VERSION);
    lua_setfield(L, -2, "SCHEMA_VERSION");
    lua_newtable(L);
    for (int i = 0; gs_statuses[i]; i++) {
        lua_pushstring(L, gs_statuses[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "STATUSES");
    lua_remove(L, json);
    return 1;
}
