/*
 * main.c — the grok-spicy host: runs a Lua script, a -e chunk or the REPL in
 * one Lua state with every grokspicy module preloaded. Owns argument parsing,
 * the REPL and SIGINT; the product's own CLI (flow options, --web) lives in Lua.
 *
 * Ctrl+C: the handler only records it (a flag) and, while Lua runs, arms Lua's
 * hook, which lua_sethook allows from a signal handler (as Lua's own lua.c
 * does); everything else happens outside the handler. Running Lua, the hook
 * raises an error object whose code is "interrupted" (grokspicy.flowkit tells
 * it apart by that code). At the REPL's prompt the read loop sees the flag and
 * drops the line, and any unfinished multi-line chunk, for a fresh prompt.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <readline/history.h>
#include <readline/readline.h>

#include "grokspicy.h"
#include "gs_internal.h"

#define PROGNAME "grok-spicy"
#define PROMPT "grok> "
#define PROMPT2 "  ... "
#define MAXINPUT 65536

static lua_State *globalL;
static volatile sig_atomic_t got_sigint; /* set by the handler, taken by whoever waits */
static volatile sig_atomic_t at_prompt;  /* no Lua runs: the handler arms no hook */

static const char usage_text[] =
    "usage: " PROGNAME " [options] [script [args...]]\n"
    "\n"
    "Runs a Lua 5.4 script with every grokspicy module preloaded.\n"
    "\n"
    "  script [args]   run the script; arg[0] is its name, arg[1..] its arguments\n"
    "  -e CODE         run CODE (may be given several times)\n"
    "  -i              enter the REPL after running the script or -e code\n"
    "  -               run standard input\n"
    "  --web [opts]    serve the dashboard only (see --web --help)\n"
    "  -v, --version   print the version\n"
    "  -h, --help      print this help\n"
    "\n"
    "With no arguments on a terminal, starts the REPL.\n"
    "Run the pipeline: " PROGNAME " scripts/flow.lua \"a story concept\"\n";

static void print_error(const char *msg)
{
    fprintf(stderr, "%s: %s\n", PROGNAME, msg);
    fflush(stderr);
}

/* Reports a failed status with the message left on the stack; pops it. An
 * error object prints through its __tostring (Ctrl+C's says "interrupted!"). */
static int report(lua_State *L, int status)
{
    if (status != LUA_OK) {
        int top = lua_gettop(L);
        const char *msg = lua_tostring(L, -1);
        if (!msg && luaL_callmeta(L, -1, "__tostring"))
            msg = lua_tostring(L, -1);
        print_error(msg ? msg : "(error object is not a string)");
        lua_settop(L, top - 1);
    }
    return status;
}

static int interrupt_tostring(lua_State *L)
{
    lua_getfield(L, 1, "message");
    return 1;
}

/* Raises Ctrl+C's error object: {code = "interrupted", message = "interrupted!"}. */
static int raise_interrupt(lua_State *L)
{
    lua_createtable(L, 0, 2);
    lua_pushliteral(L, "interrupted");
    lua_setfield(L, -2, "code");
    lua_pushliteral(L, "interrupted!");
    lua_setfield(L, -2, "message");
    if (luaL_newmetatable(L, "grokspicy.Interrupt")) {
        lua_pushcfunction(L, interrupt_tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_setmetatable(L, -2);
    return lua_error(L);
}

/* The hook the handler arms: raises at the next instruction or call. */
static void lstop(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    lua_sethook(L, NULL, 0, 0);
    got_sigint = 0;
    raise_interrupt(L);
}

static void on_sigint(int sig)
{
    (void)sig;
    got_sigint = 1;
    if (!at_prompt && globalL)
        lua_sethook(globalL, lstop, LUA_MASKCALL | LUA_MASKRET | LUA_MASKLINE | LUA_MASKCOUNT, 1);
}

/* Installs on_sigint. Running Lua the handler lasts one signal (a second Ctrl+C
 * kills for real); at the prompt it stays. SA_RESTART keeps the modules'
 * blocking calls (waitpid on ffmpeg, reads) going as signal() did; the
 * prompt's pselect returns on the signal all the same (select is never
 * restarted). */
static void catch_sigint(int prompt, struct sigaction *old)
{
    struct sigaction act;
    memset(&act, 0, sizeof act);
    act.sa_handler = on_sigint;
    sigemptyset(&act.sa_mask);
    act.sa_flags = SA_RESTART | (prompt ? 0 : SA_RESETHAND);
    sigaction(SIGINT, &act, old);
}

/* Runs the function below nargs args with Ctrl+C turned into a Lua error. */
static int docall(lua_State *L, int nargs, int nres)
{
    struct sigaction old;
    globalL = L;
    got_sigint = 0;
    at_prompt = 0;
    catch_sigint(0, &old);
    int status = gs_pcall(L, nargs, nres);
    sigaction(SIGINT, &old, NULL);
    if (got_sigint) { /* came as the call ended: the armed hook must not outlive it */
        lua_sethook(L, NULL, 0, 0);
        got_sigint = 0;
    }
    return status;
}

static int dochunk(lua_State *L, int status)
{
    if (status == LUA_OK)
        status = docall(L, 0, 0);
    return report(L, status);
}

static int dostring(lua_State *L, const char *s, const char *name)
{
    return dochunk(L, luaL_loadbuffer(L, s, strlen(s), name));
}

/* Builds the global arg table as lua.c does: script at 0, options negative. */
static void create_arg_table(lua_State *L, char **argv, int argc, int script)
{
    lua_createtable(L, argc - script, script + 1);
    for (int i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i - script);
    }
    lua_setglobal(L, "arg");
}

static int handle_script(lua_State *L, char **argv)
{
    const char *fname = argv[0];
    if (strcmp(fname, "-") == 0 && strcmp(argv[-1], "--") != 0)
        fname = NULL; /* stdin */
    int status = luaL_loadfile(L, fname);
    if (status == LUA_OK) {
        int n = 0;
        lua_getglobal(L, "arg");
        if (lua_type(L, -1) == LUA_TTABLE) {
            n = (int)luaL_len(L, -1);
            luaL_checkstack(L, n + 3, "too many arguments to script");
            for (int i = 1; i <= n; i++)
                lua_rawgeti(L, -i, i);
            lua_remove(L, -n - 1);
        } else {
            lua_pop(L, 1);
        }
        status = docall(L, n, 0);
    }
    return report(L, status);
}

/* ---------- REPL ---------- */

static int use_readline;
static char history_path[4096];

#define LINE_EOF 0
#define LINE_READ 1
#define LINE_INTERRUPTED (-1)
#define LOAD_EOF (-1)
#define LOAD_INTERRUPTED (-2)

static char *typed_line;
static int line_done;

static void on_typed_line(char *line)
{
    typed_line = line;
    line_done = 1;
    rl_callback_handler_remove();
}

/* One line from readline's callback interface, waiting in pselect so Ctrl+C
 * (SIGINT unblocked only inside the wait) is seen here, outside the handler.
 * LINE_READ with *out malloc'd, LINE_EOF, or LINE_INTERRUPTED: the line typed
 * so far is dropped. */
static int prompt_line(const char *prompt, char **out)
{
    sigset_t sigint, orig;
    struct sigaction old;
    sigemptyset(&sigint);
    sigaddset(&sigint, SIGINT);
    sigprocmask(SIG_BLOCK, &sigint, &orig);
    at_prompt = 1;
    got_sigint = 0;
    catch_sigint(1, &old);
    typed_line = NULL;
    line_done = 0;
    rl_callback_handler_install(prompt, on_typed_line);
    int result = LINE_READ;
    while (!line_done) {
        fd_set in;
        FD_ZERO(&in);
        FD_SET(STDIN_FILENO, &in);
        int n = pselect(STDIN_FILENO + 1, &in, NULL, NULL, NULL, &orig);
        if (got_sigint) {
            got_sigint = 0;
            rl_free_line_state();
            rl_callback_sigcleanup();
            rl_callback_handler_remove();
            (void)!write(STDOUT_FILENO, "\n", 1);
            result = LINE_INTERRUPTED;
            break;
        }
        if (n < 0 && errno != EINTR) {
            rl_callback_handler_remove();
            break; /* stdin is gone: typed_line stays NULL, the end */
        }
        if (n > 0)
            rl_callback_read_char();
    }
    sigaction(SIGINT, &old, NULL);
    at_prompt = 0;
    sigprocmask(SIG_SETMASK, &orig, NULL);
    if (result == LINE_INTERRUPTED)
        return result;
    *out = typed_line;
    return typed_line ? LINE_READ : LINE_EOF;
}

/* Pushes the next line: LINE_READ, LINE_EOF (nothing pushed) or LINE_INTERRUPTED. */
static int read_line(lua_State *L, int firstline)
{
    const char *prompt = firstline ? PROMPT : PROMPT2;
    char *line;
    if (use_readline) {
        int got = prompt_line(prompt, &line);
        if (got != LINE_READ)
            return got;
        lua_pushstring(L, line);
        free(line);
    } else {
        static char buf[MAXINPUT];
        fputs(prompt, stdout);
        fflush(stdout);
        if (!fgets(buf, sizeof buf, stdin))
            return LINE_EOF;
        size_t l = strlen(buf);
        if (l > 0 && buf[l - 1] == '\n')
            buf[--l] = '\0';
        lua_pushlstring(L, buf, l);
    }
    /* "=expr" is the old shorthand for "return expr"; keep it working. */
    if (firstline && lua_tostring(L, -1)[0] == '=') {
        lua_pushfstring(L, "return %s", lua_tostring(L, -1) + 1);
        lua_remove(L, -2);
    }
    return LINE_READ;
}

static int incomplete(lua_State *L, int status)
{
    if (status == LUA_ERRSYNTAX) {
        size_t lmsg;
        const char *msg = lua_tolstring(L, -1, &lmsg);
        if (lmsg >= 5 && strcmp(msg + lmsg - 5, "<eof>") == 0) {
            lua_pop(L, 1);
            return 1;
        }
    }
    return 0;
}

/* Tries the line as an expression first so "1+1" prints 2. */
static int addreturn(lua_State *L)
{
    const char *line = lua_tostring(L, -1);
    const char *retline = lua_pushfstring(L, "return %s;", line);
    int status = luaL_loadbuffer(L, retline, strlen(retline), "=stdin");
    if (status == LUA_OK)
        lua_remove(L, -2);
    else
        lua_pop(L, 2);
    return status;
}

/* Reads lines while the chunk is unfinished. Ctrl+C drops the whole chunk. */
static int multiline(lua_State *L)
{
    for (;;) {
        size_t len;
        const char *line = lua_tolstring(L, 1, &len);
        int status = luaL_loadbuffer(L, line, len, "=stdin");
        if (!incomplete(L, status))
            return status;
        int got = read_line(L, 0);
        if (got == LINE_INTERRUPTED)
            return LOAD_INTERRUPTED;
        if (got == LINE_EOF)
            return status;
        lua_pushliteral(L, "\n");
        lua_insert(L, -2);
        lua_concat(L, 3);
    }
}

/* Leaves the loaded chunk on the stack (or an error); the source line at 1.
 * LOAD_EOF at the end of input, LOAD_INTERRUPTED when Ctrl+C dropped it. */
static int load_line(lua_State *L)
{
    lua_settop(L, 0);
    int got = read_line(L, 1);
    if (got == LINE_EOF)
        return LOAD_EOF;
    if (got == LINE_INTERRUPTED)
        return LOAD_INTERRUPTED;
    int status = addreturn(L);
    if (status != LUA_OK)
        status = multiline(L);
    if (status == LOAD_INTERRUPTED)
        return status;
    if (use_readline) {
        const char *src = lua_tostring(L, 1);
        if (src && *src)
            add_history(src);
    }
    lua_remove(L, 1);
    return status;
}

/* Prints results through grokspicy.inspect so tables show their contents. */
static void print_results(lua_State *L)
{
    int n = lua_gettop(L);
    if (n == 0)
        return;
    luaL_checkstack(L, LUA_MINSTACK, "too many results to print");
    lua_getglobal(L, "require");
    lua_pushliteral(L, "grokspicy.inspect");
    if (lua_pcall(L, 1, 1, 0) != LUA_OK || !lua_istable(L, -1)) {
        lua_pop(L, 1);
        lua_getglobal(L, "print");
    } else {
        lua_getfield(L, -1, "print");
        lua_remove(L, -2);
    }
    lua_insert(L, 1);
    if (lua_pcall(L, n, 0, 0) != LUA_OK)
        report(L, LUA_ERRRUN);
}

static void do_repl(lua_State *L)
{
    use_readline = isatty(STDIN_FILENO);
    if (use_readline) {
        const char *home = getenv("HOME");
        rl_readline_name = PROGNAME;
        if (home && *home) {
            snprintf(history_path, sizeof history_path, "%s/.grok_spicy_history", home);
            read_history(history_path);
        }
        rl_catch_signals = 0; /* SIGINT is ours: prompt_line handles it */
        catch_sigint(1, NULL); /* between prompts too: Ctrl+C never kills the REPL */
        printf("grok-spicy %s (%s) — every grokspicy module is preloaded; Ctrl+D quits\n",
               GS_VERSION, LUA_RELEASE);
    }
    int status;
    while ((status = load_line(L)) != LOAD_EOF) {
        if (status == LOAD_INTERRUPTED)
            continue; /* a fresh prompt: nothing of the dropped chunk is kept */
        if (status == LUA_OK)
            status = docall(L, 0, LUA_MULTRET);
        if (status == LUA_OK)
            print_results(L);
        else
            report(L, status);
    }
    lua_settop(L, 0);
    if (use_readline) {
        if (history_path[0]) {
            write_history(history_path);
            history_truncate_file(history_path, 1000);
        }
        signal(SIGINT, SIG_DFL);
    }
    fputs("\n", stdout);
    fflush(stdout);
}

/* Makes every grokspicy module a global in the REPL, so `store.init_db` works. */
static void preload_globals(lua_State *L)
{
    static const char code[] =
        "for _, name in ipairs{'store','bus','resources','inspect','media','steps','http','template',"
        "'observer','plan'} do\n"
        "  local ok, m = pcall(require, 'grokspicy.' .. name)\n"
        "  if ok and rawget(_G, name) == nil then _G[name] = m end\n"
        "end\n";
    dostring(L, code, "=(repl)");
}

/* ---------- main ---------- */

struct opts {
    int interactive;
    int version;
    int script;     /* index of the script in argv, 0 if none */
    int has_e;
    int web;        /* index of --web in argv */
};

static int parse_args(int argc, char **argv, struct opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || strcmp(a, "-") == 0) {
            o->script = i;
            return 0;
        }
        if (strcmp(a, "--") == 0) {
            if (i + 1 < argc)
                o->script = i + 1;
            return 0;
        }
        if (strcmp(a, "-e") == 0) {
            if (++i >= argc) {
                print_error("'-e' needs an argument");
                return -1;
            }
            o->has_e = 1;
        } else if (strcmp(a, "-i") == 0) {
            o->interactive = 1;
        } else if (strcmp(a, "-v") == 0 || strcmp(a, "--version") == 0) {
            o->version = 1;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(usage_text, stdout);
            exit(EXIT_SUCCESS);
        } else if (strcmp(a, "--web") == 0) {
            o->web = i;
            return 0;
        } else {
            fprintf(stderr, "%s: unknown option '%s'\n%s", PROGNAME, a, usage_text);
            return -1;
        }
    }
    return 0;
}

static int run_e_options(lua_State *L, int argc, char **argv, int stop)
{
    for (int i = 1; i < stop && i < argc; i++) {
        if (strcmp(argv[i], "-e") == 0 && i + 1 < argc) {
            if (dostring(L, argv[++i], "=(command line)") != LUA_OK)
                return 0;
        }
    }
    return 1;
}

/* --web and its options belong to the product CLI written in Lua. */
static int run_web(lua_State *L, int argc, char **argv, int at)
{
    create_arg_table(L, argv, argc, at);
    const char *code = "return require('grokspicy.cli').web_main(...)";
    if (luaL_loadstring(L, code) != LUA_OK)
        return report(L, LUA_ERRSYNTAX) == LUA_OK;
    for (int i = at + 1; i < argc; i++)
        lua_pushstring(L, argv[i]);
    int st = docall(L, argc - at - 1, 1);
    if (st != LUA_OK) {
        report(L, st);
        return 1;
    }
    int code_out = lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : 0;
    lua_pop(L, 1);
    return code_out;
}

static int pmain(lua_State *L)
{
    int argc = (int)lua_tointeger(L, 1);
    char **argv = (char **)lua_touserdata(L, 2);
    struct opts o = {0};
    luaL_checkversion(L);
    luaL_openlibs(L);
    gs_openlibs(L);
    if (parse_args(argc, argv, &o) != 0) {
        lua_pushinteger(L, 2);
        return 1;
    }
    if (o.version) {
        printf("grok-spicy %s (%s)\n", GS_VERSION, LUA_RELEASE);
        if (!o.script && !o.has_e && !o.interactive) {
            lua_pushinteger(L, 0);
            return 1;
        }
    }
    if (o.web) {
        lua_pushinteger(L, run_web(L, argc, argv, o.web));
        return 1;
    }
    create_arg_table(L, argv, argc, o.script ? o.script : 0);
    if (!run_e_options(L, argc, argv, o.script ? o.script : argc)) {
        lua_pushinteger(L, 1);
        return 1;
    }
    if (o.script && handle_script(L, argv + o.script) != LUA_OK) {
        lua_pushinteger(L, 1);
        return 1;
    }
    if (o.interactive || (!o.script && !o.has_e && !o.version)) {
        if (o.interactive || isatty(STDIN_FILENO)) {
            preload_globals(L);
            do_repl(L);
        } else if (handle_script(L, (char *[]){"", "-", NULL} + 1) != LUA_OK) {
            lua_pushinteger(L, 1);
            return 1;
        }
    }
    /* A script may set a numeric exit code through os.exit; plain end is 0. */
    lua_pushinteger(L, 0);
    return 1;
}

int main(int argc, char **argv)
{
    lua_State *L = luaL_newstate();
    if (!L) {
        print_error("cannot create Lua state: not enough memory");
        return EXIT_FAILURE;
    }
    lua_pushcfunction(L, pmain);
    lua_pushinteger(L, argc);
    lua_pushlightuserdata(L, argv);
    int status = lua_pcall(L, 2, 1, 0);
    int code = 1;
    if (status == LUA_OK)
        code = (int)lua_tointeger(L, -1);
    else
        report(L, status);
    lua_close(L);
    return code;
}
