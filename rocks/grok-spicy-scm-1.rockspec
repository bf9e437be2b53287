rockspec_format = "3.0"
package = "grok-spicy"
version = "scm-1"
source = {
  url = "git+file://.",
}
description = {
  summary = "Story concept to multi-scene video with consistent characters: a C core driven by Lua",
  detailed = [[
    The grokspicy.* modules for plain lua5.4: the SQLite run store, the event bus,
    the pipeline steps and the dashboard server, plus the Lua library (flow helpers,
    observers, template engine). One shared object, grokspicy.so, carries every C
    module; Lua finds grokspicy.store in it through its all-in-one loader.
  ]],
  license = "MIT",
}
dependencies = {
  "lua >= 5.4, < 5.5",
}
external_dependencies = {
  SQLITE = { header = "sqlite3.h" },
  MHD = { header = "microhttpd.h" },
  ARCHIVE = { header = "archive.h" },
}
build = {
  type = "cmake",
  variables = {
    CMAKE_BUILD_TYPE = "Release",
    GS_LUA_MODULE_ONLY = "ON",
    GS_LUA_CMOD_DIR = "$(LIBDIR)",
    GS_LUA_LMOD_DIR = "$(LUADIR)",
    CMAKE_INSTALL_PREFIX = "$(PREFIX)",
  },
}
