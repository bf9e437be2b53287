/*
 * grokspicy.h — the public face of libgrokspicy for programs that embed it.
 *
 * Embedding takes three calls:
 *
 *     lua_State *L = luaL_newstate();
 *     luaL_openlibs(L);
 *     gs_openlibs(L);              // every grokspicy.* module becomes require-able
 *     luaL_dostring(L, "local store = require 'grokspicy.store' ...");
 *
 * The C APIs of the store and the bus are public too: an HTTP server, a test or
 * another host can append events or subscribe to them without going through Lua.
 */
#ifndef GROKSPICY_H
#define GROKSPICY_H

#include <lua.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GS_VERSION_MAJOR 0
#define GS_VERSION_MINOR 1
#define GS_VERSION_PATCH 0
#define GS_VERSION "0.1.0"

/*
 * Registers every grokspicy.* module in package.preload and adds a searcher
 * that finds the Lua library shipped inside the binary. Returns 0.
 * The Lua standard libraries must already be open.
 */
int gs_openlibs(lua_State *L);

/* The Lua entry point of the all-in-one module (require "grokspicy"). */
int luaopen_grokspicy(lua_State *L);

#ifdef __cplusplus
}
#endif

#include "gs_modules_public.h"

#endif
