/*
 * gs_internal.h — helpers shared by the C modules of libgrokspicy; not installed.
 */
#ifndef GS_INTERNAL_H
#define GS_INTERNAL_H

#include <stddef.h>
#include <lua.h>

/* A file of the Lua library, templates or static assets compiled into the binary. */
struct gs_resource {
    const char *name;           /* path relative to the source tree, e.g. "lua/grokspicy/cli.lua" */
    const unsigned char *data;
    size_t len;
};

/* Generated at build time from lua/, templates/ and static/; sorted by name. */
extern const struct gs_resource gs_resources[];
extern const size_t gs_resource_count;

/* The Lua files of gs_resources compiled to bytecode at build time
 * (cmake/luac_embed.c), debug information kept; sorted by name. */
extern const struct gs_resource gs_bytecode[];
extern const size_t gs_bytecode_count;

/* The embedded copy of a resource, or NULL. */
const struct gs_resource *gs_resource_find(const char *name);

/*
 * Reads a resource into a malloc'd buffer: from $GROK_SPICY_SOURCE_DIR when that
 * is set (a developer editing Lua or templates without rebuilding), else from
 * the embedded copy. Returns NULL with *err set to a static message when absent.
 */
char *gs_resource_read(const char *name, size_t *len, const char **err);

/*
 * Calls the function below nargs arguments on the stack in protected mode with
 * a traceback handler. Returns the lua_pcall status; on error the message
 * (with traceback) is left on the stack.
 */
int gs_pcall(lua_State *L, int nargs, int nresults);

/* archive_loader.c: NULL once libarchive is loaded (loading it if need be), else
 * why it could not be ("the run bundle needs libarchive, which ..."). */
const char *gs_archive_load_error(void);

int luaopen_grokspicy_resources(lua_State *L);
int luaopen_grokspicy_sys(lua_State *L);
int luaopen_grokspicy_core_sorted_json(lua_State *L); /* sorted_json.c */

/*
 * The provider of the grokspicy.Provider userdata at idx, counted as borrowed
 * (provider:close raises while borrowed), or NULL when idx is not an open
 * provider. Every borrow is paired with one unborrow on the same userdata.
 */
struct gs_provider;
struct gs_provider *gs_provider_borrow(lua_State *L, int idx);
void gs_provider_unborrow(lua_State *L, int idx);

/* Pushes a charge as the table the Lua side records ({endpoint=, model=,
 * request_id=, outcome=, detail=, ticks=, estimated=, update=}; step and asset
 * are set by the caller); may raise a memory error. */
struct gs_charge;
void gs_push_charge(lua_State *L, const struct gs_charge *c);

/*
 * Option tables (lua_opts.c), the one reader the Lua faces share. A key is
 * named in messages as "<fn>: <where><key><after>" ("http.serve: opts.port",
 * "bus.publish: field 'type'"); where and after may be NULL. Each raises on a
 * value of the wrong type or range ("is required" when required and nil), and
 * leaves the stack as it found it, but for gs_opt_table, which pushes the table.
 */
typedef struct gs_opts {
    lua_State *L;
    const char *fn, *where, *after;
} gs_opts;

/* A string field (nil: def); *len (may be NULL) its length. It stays alive in the table. */
const char *gs_opt_str(const gs_opts *o, int t, const char *key, int required, const char *def, size_t *len);
/* A number field in lo..hi (nil: def). */
double gs_opt_num(const gs_opts *o, int t, const char *key, int required, double def, double lo, double hi);
/* An integer field in lo..hi (nil: def); a float with an integer value counts. */
lua_Integer gs_opt_int(const gs_opts *o, int t, const char *key, int required, lua_Integer def, lua_Integer lo,
                       lua_Integer hi);
/* Pushes a table field and returns its index; 0, nothing pushed, when nil and not required. */
int gs_opt_table(const gs_opts *o, int t, const char *key, int required);

#endif
