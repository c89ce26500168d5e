/* tools/wsrep_sst_trireme/sst_proc: the child programs (mariabackup, mbstream, my_print_defaults)
 * on pipes, found in PATH, their stderr kept in a log file; stopped only by their own PID. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tools/wsrep_sst_trireme/sst.h"

extern char **environ;

int sst_which(const char *const names[], char *out, size_t outlen)
{
    const char *path = getenv("PATH");
    if (!path || !*path) path = "/usr/local/bin:/usr/bin:/bin";
    for (size_t i = 0; names[i]; i++) {
        const char *p = path;
        while (*p) {
            const char *e = strchr(p, ':');
            size_t n = e ? (size_t)(e - p) : strlen(p);
            sst_fmt(out, outlen, "%.*s/%s", (int)(n ? n : 1), n ? p : ".", names[i]);
            if (access(out, X_OK) == 0) return 0;
            p += n + (e ? 1 : 0);
        }
    }
    return -1;
}

int sst_spawn(struct sst_child *c, char *const argv[], bool dir_out, const char *logfile,
              char *const env_add[])
{
    int pfd[2];
    c->pid = -1;
    c->fd = -1;
    if (pipe2(pfd, O_CLOEXEC)) {
        sst_error("pipe: %s", strerror(errno));
        return -1;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    /* child: its end of the pipe as stdout (we read) or stdin (we write) */
    posix_spawn_file_actions_adddup2(&fa, dir_out ? pfd[1] : pfd[0], dir_out ? 1 : 0);
    if (!dir_out) posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    if (logfile) posix_spawn_file_actions_addopen(&fa, 2, logfile, O_WRONLY | O_CREAT | O_APPEND, 0640);
    size_t ne = 0, na = 0;
    while (environ[ne]) ne++;
    while (env_add && env_add[na]) na++;
    char **env = calloc(ne + na + 1, sizeof *env);
    if (!env) {
        posix_spawn_file_actions_destroy(&fa);
        close(pfd[0]);
        close(pfd[1]);
        return -1;
    }
    size_t k = 0;
    for (size_t i = 0; i < ne; i++) {
        bool replaced = false; /* an added K=V replaces the inherited K */
        for (size_t j = 0; j < na && !replaced; j++) {
            const char *eq = strchr(env_add[j], '=');
            size_t kl = eq ? (size_t)(eq - env_add[j]) : strlen(env_add[j]);
            replaced = !strncmp(environ[i], env_add[j], kl) && environ[i][kl] == '=';
        }
        if (!replaced) env[k++] = environ[i];
    }
    for (size_t j = 0; j < na; j++) env[k++] = env_add[j];
    env[k] = NULL;
    int rc = posix_spawnp(&c->pid, argv[0], &fa, NULL, argv, env);
    free(env);
    posix_spawn_file_actions_destroy(&fa);
    close(dir_out ? pfd[1] : pfd[0]);
    if (rc) {
        close(dir_out ? pfd[0] : pfd[1]);
        c->pid = -1;
        sst_error("cannot run %s: %s", argv[0], strerror(rc));
        return -1;
    }
    c->fd = dir_out ? pfd[0] : pfd[1];
    return 0;
}

int sst_child_wait(struct sst_child *c)
{
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    if (c->pid <= 0) return -1;
    int st;
    while (waitpid(c->pid, &st, 0) < 0)
        if (errno != EINTR) return -1;
    c->pid = -1;
    if (WIFEXITED(st)) return WEXITSTATUS(st);
    return 128 + WTERMSIG(st);
}

void sst_child_kill(struct sst_child *c)
{
    if (c->pid > 0) kill(c->pid, SIGTERM); /* our own child, by its PID */
    sst_child_wait(c);
}

void sst_log_tail(const char *file, int lines)
{
    FILE *f = fopen(file, "r");
    if (!f) return;
    char ring[16][512];
    int n = 0;
    while (fgets(ring[n % 16], sizeof ring[0], f)) n++;
    fclose(f);
    if (lines > 16) lines = 16;
    int from = n > lines ? n - lines : 0;
    for (int i = from; i < n; i++) {
        char *l = ring[i % 16];
        l[strcspn(l, "\r\n")] = '\0';
        sst_info("  %s: %s", file, l);
    }
}

bool sst_parent_gone(long parent)
{
    return parent > 0 && kill((pid_t)parent, 0) != 0 && errno == ESRCH;
}
