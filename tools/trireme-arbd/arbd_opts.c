/* tools/trireme-arbd/arbd_opts: garbd's command line and configuration file, for trireme-arbd.
 * Every option is acted on or refused with a message naming it; none is ignored. */
#include <stdio.h>

#include "tools/trireme-arbd/arbd.h"

#include <ctype.h>
#include <getopt.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

enum { K_ADDRESS, K_GROUP, K_OPTIONS, K_NAME, K_LOG, K_WORKDIR, K_DAEMON, K_SST, K_DONOR, K_CFG };

static const char *const keys[] = {"address", "group", "options", "name", "log",
                                   "workdir", "daemon", "sst", "donor", "cfg"};

void arbd_usage(FILE *f)
{
    fprintf(f,
"Usage: trireme-arbd [options] [gcomm://address]\n"
"\n"
"The trireme arbitrator: a member of a trireme cluster that votes in the quorum and holds no\n"
"data. With two data nodes and one arbitrator, either data node may fail and the other stays\n"
"primary. It joins an existing cluster (it never forms one), sees every message the nodes\n"
"exchange and drops them; it is never a donor. Galera's garbd cannot join a trireme cluster,\n"
"nor trireme-arbd a Galera one: the options are garbd's, the protocol is trireme's.\n"
"\n"
"  -a, --address gcomm://HOST[:PORT],...  the cluster's nodes (wsrep_cluster_address); at\n"
"                         least one, port 4567 by default; gcomm://...?key=value options apply\n"
"                         as in wsrep_cluster_address. Also accepted as the last argument.\n"
"  -g, --group NAME       the cluster's name: wsrep_cluster_name on the nodes (required).\n"
"                         Nodes of another group refuse the link; the arbitrator then gives up\n"
"                         after pc.wait_prim_timeout (30 s) with an error.\n"
"  -o, --options 'K=V;..' provider options for group communication, as in\n"
"                         wsrep_provider_options: gmcast.*, evs.*, pc.* (pc.weight: the\n"
"                         arbitrator's vote, 1 by default), socket.ssl* (TLS, as on the nodes),\n"
"                         base_host, base_port, gcs.max_packet_size, trireme.retain_limit,\n"
"                         trireme.busy_poll_us. Any other key is refused.\n"
"                         Listens on gmcast.listen_addr (tcp://0.0.0.0:4567 by default).\n"
"  -n, --name NAME        member name shown in the nodes' views (default: the host name).\n"
"  -l, --log FILE         append the log to FILE (reopened on SIGHUP, for logrotate); default:\n"
"                         standard error, or syslog with --daemon.\n"
"  -d, --daemon           detach and run in the background.\n"
"  -w, --workdir DIR      working directory; gcomm keeps gvwstate.dat there (pc.recovery).\n"
"  -c, --cfg FILE         read options from FILE, garbd's format: one NAME=VALUE per line with\n"
"                         the long names above (address, group, options, name, log, daemon,\n"
"                         workdir), '#' starts a comment, the value may be quoted. The command\n"
"                         line wins over the file.\n"
"      --sst, --donor     garbd's backup trigger: not supported (refused).\n"
"  -h, --help             this text.    -v, --version   the version.\n"
"\n"
"SIGTERM or SIGINT: leave the cluster gracefully and exit 0. Exit status 1: a bad option or\n"
"file, no primary component to join, or the cluster lost.\n");
}

static int put(struct arbd_opts *o, int k, const char *v, bool cmdline, char *err, size_t errlen)
{
    if (!cmdline && (o->set & (1u << k))) return 0; /* the command line said otherwise */
    if (cmdline) o->set |= 1u << k;
    char *dst = NULL;
    size_t cap = 0;
    switch (k) {
    case K_ADDRESS: dst = o->address, cap = sizeof o->address; break;
    case K_GROUP: dst = o->group, cap = sizeof o->group; break;
    case K_OPTIONS: dst = o->options, cap = sizeof o->options; break;
    case K_NAME: dst = o->name, cap = sizeof o->name; break;
    case K_LOG: dst = o->log, cap = sizeof o->log; break;
    case K_WORKDIR: dst = o->workdir, cap = sizeof o->workdir; break;
    case K_CFG: dst = o->cfg, cap = sizeof o->cfg; break;
    case K_DAEMON:
        if (!v || !*v || !strcmp(v, "1") || !strcasecmp(v, "yes") || !strcasecmp(v, "true") ||
            !strcasecmp(v, "on"))
            o->daemon = true;
        else if (!strcmp(v, "0") || !strcasecmp(v, "no") || !strcasecmp(v, "false") ||
                 !strcasecmp(v, "off"))
            o->daemon = false;
        else
            return snprintf(err, errlen, "daemon: '%s' is not a boolean", v), -1;
        return 0;
    default:
        snprintf(err, errlen, "%s: garbd's state snapshot request (a backup through a donor) is not "
                 "supported by trireme-arbd", keys[k]);
        return -1;
    }
    if (strlen(v) >= cap) return snprintf(err, errlen, "%s: value too long", keys[k]), -1;
    snprintf(dst, cap, "%s", v);
    return 0;
}

int arbd_opts_parse(int argc, char **argv, struct arbd_opts *o, char *err, size_t errlen)
{
    static const struct option lo[] = {
        {"address", required_argument, NULL, 'a'}, {"group", required_argument, NULL, 'g'},
        {"options", required_argument, NULL, 'o'}, {"name", required_argument, NULL, 'n'},
        {"log", required_argument, NULL, 'l'},     {"daemon", no_argument, NULL, 'd'},
        {"workdir", required_argument, NULL, 'w'}, {"cfg", required_argument, NULL, 'c'},
        {"sst", required_argument, NULL, 'S'},     {"donor", required_argument, NULL, 'D'},
        {"help", no_argument, NULL, 'h'},          {"version", no_argument, NULL, 'v'},
        {NULL, 0, NULL, 0}};
    memset(o, 0, sizeof *o);
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, ":a:g:o:n:l:dw:c:hv", lo, NULL)) != -1) {
        int k = -1;
        switch (c) {
        case 'a': k = K_ADDRESS; break;
        case 'g': k = K_GROUP; break;
        case 'o': k = K_OPTIONS; break;
        case 'n': k = K_NAME; break;
        case 'l': k = K_LOG; break;
        case 'd': k = K_DAEMON; break;
        case 'w': k = K_WORKDIR; break;
        case 'c': k = K_CFG; break;
        case 'S': k = K_SST; break;
        case 'D': k = K_DONOR; break;
        case 'h': arbd_usage(stdout); return 1;
        case 'v': printf("trireme-arbd %s\n", TRIREME_VERSION); return 1;
        case ':':
            snprintf(err, errlen, "option '%s' needs a value", argv[optind - 1]);
            return -1;
        default:
            snprintf(err, errlen, "unknown option '%s' (see --help)", argv[optind - 1]);
            return -1;
        }
        if (put(o, k, k == K_DAEMON ? "1" : optarg, true, err, errlen)) return -1;
    }
    if (optind < argc) { /* garbd's positional group address */
        if (optind + 1 < argc || (o->set & (1u << K_ADDRESS))) {
            snprintf(err, errlen, "unexpected argument '%s'", argv[optind]);
            return -1;
        }
        if (put(o, K_ADDRESS, argv[optind], true, err, errlen)) return -1;
    }
    return 0;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s)) s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1])) *--e = '\0';
    return s;
}

int arbd_opts_file(struct arbd_opts *o, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) return snprintf(err, errlen, "--cfg %s: %m", path), -1;
    char line[ARBD_STR + 256];
    int ln = 0, rc = 0;
    while (!rc && fgets(line, sizeof line, f)) {
        ln++;
        if (!strchr(line, '\n') && !feof(f)) {
            snprintf(err, errlen, "%s:%d: line too long", path, ln);
            rc = -1;
            break;
        }
        char *s = trim(line);
        if (!*s || *s == '#') continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            snprintf(err, errlen, "%s:%d: expected NAME=VALUE", path, ln);
            rc = -1;
            break;
        }
        *eq = '\0';
        char *k = trim(s), *v = trim(eq + 1);
        /* a comment after an unquoted value; a quoted value keeps what is inside its quotes */
        size_t vl = strlen(v);
        if (vl >= 2 && (*v == '"' || *v == '\'') && v[vl - 1] == *v) {
            v[vl - 1] = '\0';
            v++;
        } else if (*v == '"' || *v == '\'') {
            snprintf(err, errlen, "%s:%d: unterminated quote", path, ln);
            rc = -1;
            break;
        } else {
            char *h = strchr(v, '#');
            if (h) *h = '\0';
            v = trim(v);
        }
        int key = -1;
        for (int i = 0; i < (int)(sizeof keys / sizeof keys[0]); i++)
            if (!strcmp(k, keys[i])) key = i;
        if (key < 0 || key == K_CFG) {
            snprintf(err, errlen, "%s:%d: unknown setting '%s' (address, group, options, name, log, "
                     "daemon, workdir)", path, ln, k);
            rc = -1;
            break;
        }
        char e2[512];
        if (put(o, key, v, false, e2, sizeof e2)) {
            snprintf(err, errlen, "%s:%d: %s", path, ln, e2);
            rc = -1;
        }
    }
    fclose(f);
    return rc;
}

int arbd_opts_check(struct arbd_opts *o, char *err, size_t errlen)
{
    if (strncmp(o->address, "gcomm://", 8) != 0)
        return snprintf(err, errlen, "--address: a gcomm://host[:port],... address is required%s%s",
                        o->address[0] ? ", not " : "", o->address), -1;
    const char *peers = o->address + 8;
    if (!*peers || *peers == '?')
        return snprintf(err, errlen, "--address %s names no node: an arbitrator joins an existing "
                        "cluster, it never forms one", o->address), -1;
    if (!o->group[0]) return snprintf(err, errlen, "--group: the cluster's name is required"), -1;
    if (strlen(o->group) > 63) return snprintf(err, errlen, "--group: longer than 63 bytes"), -1;
    if (strlen(o->name) > 31) /* wsrep's member name is 32 bytes */
        return snprintf(err, errlen, "--name: longer than 31 bytes"), -1;
    if (!o->name[0] && gethostname(o->name, sizeof o->name - 1) != 0)
        snprintf(o->name, sizeof o->name, "arbitrator");
    return 0;
}
