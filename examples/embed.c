/*
 * embed.c — the smallest program that embeds grok-spicy: one Lua state, every
 * grokspicy module registered with one call, then Lua does the work.
 *
 *   cc embed.c $(pkg-config --cflags --libs grokspicy) -o embed && ./embed runs.db
 */
#include <stdio.h>

#include <lauxlib.h>
#include <lualib.h>

#include <grokspicy.h>

int main(int argc, char **argv)
{
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    gs_openlibs(L);
    lua_pushstring(L, argc > 1 ? argv[1] : "embed.db");
    lua_setglobal(L, "DB_PATH");
    int st = luaL_dostring(L,
        "local store = require 'grokspicy.store'\n"
        "local conn <close> = store.init_db(DB_PATH)\n"
        "local id = conn:insert_run('a lighthouse keeper befriends a storm')\n"
        "print(('run %d is %s'):format(id, conn:get_run(id).status))\n");
    if (st != LUA_OK)
        fprintf(stderr, "embed: %s\n", lua_tostring(L, -1));
    lua_close(L);
    return st == LUA_OK ? 0 : 1;
}
