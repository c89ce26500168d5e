/* tools/trireme-status/ts_opts.c: the command line (the mariadb client's connection options plus
 * the tool's own) and the --help text, which is the tool's manual. */
#include <errno.h>
#include <getopt.h>
#include <mysql.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <termios.h>
#include <unistd.h>
#include <fcntl.h>

#include "ts.h"

static const char usage[] =
"Usage: trireme-status [CONNECTION OPTIONS] [--json] [--watch [SECONDS]] [--nodes LIST]\n"
"       trireme-status [CONNECTION OPTIONS] --check [--donor-ok] [--read-only-not-ok]\n"
"       trireme-status [CONNECTION OPTIONS] --serve-check ADDR:PORT [--donor-ok] ...\n"
"\n"
"Shows a Galera-compatible cluster (MariaDB on trireme or on Galera 4) at a glance. It connects\n"
"to the node given, reads SHOW GLOBAL STATUS LIKE 'wsrep%%', finds the other nodes in\n"
"wsrep_incoming_addresses, connects to each with the same credentials, samples twice\n"
"(--interval apart) and prints one line per node and warnings in plain words.\n"
"\n"
"Connection options (as the mariadb client's):\n"
"  -h, --host=HOST          server host (default: the option files', else localhost)\n"
"  -P, --port=PORT          TCP port (default 3306)\n"
"  -S, --socket=PATH        Unix socket of a local server\n"
"      --protocol=tcp|socket\n"
"  -u, --user=USER          user (the account needs no privilege beyond USAGE)\n"
"  -p, --password[=PWD]     password; -pPWD (no space), or -p alone to be asked on the\n"
"                           terminal. MYSQL_PWD is honoured as the client does.\n"
"      --defaults-file=FILE read only this option file\n"
"      --defaults-extra-file=FILE  read FILE after the default option files\n"
"      --no-defaults        read no option file\n"
"  Without these, Connector/C reads /etc/my.cnf, /etc/mysql/my.cnf (and what they include),\n"
"  $MARIADB_HOME/my.cnf or $MYSQL_HOME/my.cnf, and ~/.my.cnf, groups [client],\n"
"  [client-server], [client-mariadb] and [trireme-status]. Options on the command line win.\n"
"  The other nodes are reached over TCP at their wsrep_incoming_addresses with the same\n"
"  user, password and option files.\n"
"  -t, --timeout=SECONDS    connect, read and write timeout for each node (default 2): an\n"
"                           unreachable or hung node is shown as such after it; nodes are\n"
"                           asked in parallel. A connect-timeout in an option file wins.\n"
"\n"
"Cluster view:\n"
"      --nodes=HOST:PORT,...  nodes expected besides those in wsrep_incoming_addresses, so a\n"
"                           node that has left the view (killed, partitioned) still shows, as\n"
"                           down\n"
"  -i, --interval=SECONDS   time between the two samples the per-second figures come from\n"
"                           (default 1)\n"
"  -w, --watch[=SECONDS]    refresh every SECONDS (default 2) like top, until Ctrl-C; nodes\n"
"                           once seen stay on screen (as down when they leave)\n"
"      --json               one JSON document (a line per refresh with --watch); schema in\n"
"                           docs/operations.md\n"
"      --max-lag=N          warn when a node is more than N write-sets behind (default 1000)\n"
"\n"
"Columns: NODE wsrep_node_name; STATE wsrep_local_state_comment (or DOWN); COMPONENT\n"
"wsrep_cluster_status; SIZE wsrep_cluster_size; SEQNO wsrep_last_committed; LAG write-sets\n"
"behind the most advanced node; RECVQ/SENDQ wsrep_local_recv_queue/_send_queue; FC%% share of\n"
"the window the node was paused by flow control (wsrep_flow_control_paused_ns); FCSENT/S\n"
"flow-control stops this node sent (who throttles the cluster); CERT/S certification failures;\n"
"BF/S brute-force aborts; COMMIT/S local commits; LAT_MS average replication latency\n"
"(wsrep_evs_repl_latency, as the provider reports it); GCACHE seqnos kept for IST\n"
"(wsrep_local_cached_downto..last committed), '-' where the provider does not say.\n"
"\n"
"Health check (HAProxy, like Percona's clustercheck):\n"
"      --check              check the one node given: exit 0 and print \"Node is synced.\" if\n"
"                           it should take traffic (wsrep_ready ON, Primary, Synced), else\n"
"                           exit 1 with the reason\n"
"      --donor-ok           a Donor/Desynced node takes traffic too (clustercheck's\n"
"                           AVAILABLE_WHEN_DONOR=1)\n"
"      --read-only-not-ok   a node with read_only=ON does not (AVAILABLE_WHEN_READONLY=0)\n"
"      --disable-file=PATH  while PATH exists the node does not take traffic (\"manually\n"
"                           disabled\"), to drain it by hand\n"
"      --serve-check=ADDR:PORT  answer HTTP on ADDR:PORT (\":9200\" for every address,\n"
"                           \"[::1]:9200\" for IPv6): 200 or 503 with the reason in one line,\n"
"                           as clustercheck behind xinetd. Each request gets a check made\n"
"                           after it arrived (requests at the same time share one check).\n"
"      --max-connections=N  HTTP connections at once (default 32); each must send its\n"
"                           request within 5 s and at most 4 KiB of it\n"
"\n"
"  -?, --help               this text\n"
"  -V, --version\n"
"\n"
"Exit status: 0 healthy (every node reachable, Primary, Synced, no warning); 1 degraded (a\n"
"primary component serves, but there are warnings); 2 down (no node is Synced in a primary\n"
"component, or none answers); 3 bad command line or option file, or --serve-check cannot\n"
"listen. With --check: 0 take traffic, 1 do not.\n";

enum {
    O_PROTOCOL = 256, O_DEFAULTS_FILE, O_DEFAULTS_EXTRA, O_NO_DEFAULTS, O_NODES, O_JSON,
    O_MAX_LAG, O_CHECK, O_DONOR_OK, O_RO_NOT_OK, O_DISABLE_FILE, O_SERVE, O_MAX_CONN, O_HELP
};

static const struct option longopts[] = {
    {"host", required_argument, 0, 'h'},
    {"port", required_argument, 0, 'P'},
    {"socket", required_argument, 0, 'S'},
    {"user", required_argument, 0, 'u'},
    {"password", optional_argument, 0, 'p'},
    {"protocol", required_argument, 0, O_PROTOCOL},
    {"defaults-file", required_argument, 0, O_DEFAULTS_FILE},
    {"defaults-extra-file", required_argument, 0, O_DEFAULTS_EXTRA},
    {"no-defaults", no_argument, 0, O_NO_DEFAULTS},
    {"timeout", required_argument, 0, 't'},
    {"nodes", required_argument, 0, O_NODES},
    {"interval", required_argument, 0, 'i'},
    {"watch", optional_argument, 0, 'w'},
    {"json", no_argument, 0, O_JSON},
    {"max-lag", required_argument, 0, O_MAX_LAG},
    {"check", no_argument, 0, O_CHECK},
    {"donor-ok", no_argument, 0, O_DONOR_OK},
    {"read-only-not-ok", no_argument, 0, O_RO_NOT_OK},
    {"disable-file", required_argument, 0, O_DISABLE_FILE},
    {"serve-check", required_argument, 0, O_SERVE},
    {"max-connections", required_argument, 0, O_MAX_CONN},
    {"help", no_argument, 0, O_HELP},
    {"version", no_argument, 0, 'V'},
    {0, 0, 0, 0},
};

static int bad(const char *what, const char *value)
{
    fprintf(stderr, "trireme-status: bad %s '%s' (see --help)\n", what, value);
    return -1;
}

static bool parse_seconds(const char *s, double min, double max, double *out)
{
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    if (errno || end == s || *end || !(d >= min && d <= max)) return false;
    *out = d;
    return true;
}

static bool parse_long(const char *s, long long min, long long max, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) return false;
    *out = v;
    return true;
}

/* -p without a value: ask on the terminal without echo, as the client does. */
static char *ask_password(void)
{
    int fd = open("/dev/tty", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "trireme-status: -p without a password needs a terminal\n");
        return NULL;
    }
    struct termios t0, t1;
    bool restore = tcgetattr(fd, &t0) == 0;
    if (restore) {
        t1 = t0;
        t1.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
        tcsetattr(fd, TCSAFLUSH, &t1);
    }
    if (write(fd, "Enter password: ", 16) < 0) { /* the prompt is best effort */ }
    char buf[512];
    size_t n = 0;
    char c;
    while (n + 1 < sizeof buf && read(fd, &c, 1) == 1 && c != '\n') buf[n++] = c;
    buf[n] = '\0';
    if (restore) tcsetattr(fd, TCSAFLUSH, &t0);
    if (write(fd, "\n", 1) < 0) { /* best effort */ }
    close(fd);
    char *p = strdup(buf);
    memset(buf, 0, sizeof buf);
    return p;
}

/* Hides a password given on the command line from ps, as the client does. */
static char *take_secret(char *arg)
{
    char *p = strdup(arg);
    memset(arg, 'x', strlen(arg));
    return p;
}

bool ts_split_addr(const char *in, char *host, size_t hostlen, unsigned *port, unsigned defport)
{
    const char *colon;
    size_t hl;
    if (in[0] == '[') {
        const char *rb = strchr(in, ']');
        if (!rb) return false;
        hl = (size_t)(rb - in - 1);
        if (hl >= hostlen) return false;
        memcpy(host, in + 1, hl);
        host[hl] = '\0';
        colon = rb[1] == ':' ? rb + 1 : NULL;
        if (!colon && rb[1]) return false;
    } else {
        colon = strrchr(in, ':');
        if (colon && strchr(in, ':') != colon) colon = NULL; /* a bare IPv6 address */
        hl = colon ? (size_t)(colon - in) : strlen(in);
        if (hl >= hostlen) return false;
        memcpy(host, in, hl);
        host[hl] = '\0';
    }
    *port = defport;
    if (colon) {
        long long p;
        if (!parse_long(colon + 1, 1, 65535, &p)) return false;
        *port = (unsigned)p;
    }
    return true;
}

int ts_parse_args(int argc, char **argv, struct ts_opts *o)
{
    memset(o, 0, sizeof *o);
    o->conn.timeout_s = 2;
    o->interval_s = 1.0;
    o->max_lag = 1000;
    o->max_clients = 32;
    int c;
    long long v;
    double d;
    opterr = 0;
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "-?") == 0) {
            fputs(usage, stdout);
            exit(0);
        }
    while ((c = getopt_long(argc, argv, ":h:P:S:u:p::t:i:w::V", longopts, NULL)) != -1) {
        switch (c) {
        case 'h': o->conn.host = optarg; break;
        case 'P':
            if (!parse_long(optarg, 1, 65535, &v)) return bad("port", optarg);
            o->conn.port = (unsigned)v;
            break;
        case 'S': o->conn.socket = optarg; break;
        case 'u': o->conn.user = optarg; break;
        case 'p':
            o->conn.password = optarg ? take_secret(optarg) : ask_password();
            if (!o->conn.password) return -1;
            break;
        case O_PROTOCOL:
            if (strcasecmp(optarg, "tcp") == 0) o->conn.protocol = MYSQL_PROTOCOL_TCP;
            else if (strcasecmp(optarg, "socket") == 0) o->conn.protocol = MYSQL_PROTOCOL_SOCKET;
            else return bad("protocol (tcp or socket)", optarg);
            break;
        case O_DEFAULTS_FILE: o->conn.defaults_file = optarg; break;
        case O_DEFAULTS_EXTRA: o->conn.defaults_extra_file = optarg; break;
        case O_NO_DEFAULTS: o->conn.no_defaults = true; break;
        case 't':
            if (!parse_long(optarg, 1, 3600, &v)) return bad("timeout (1-3600 s)", optarg);
            o->conn.timeout_s = (unsigned)v;
            break;
        case O_NODES: o->nodes = optarg; break;
        case 'i':
            if (!parse_seconds(optarg, 0.1, 3600, &o->interval_s))
                return bad("interval (0.1-3600 s)", optarg);
            break;
        case 'w':
            o->watch_s = 2.0;
            /* --watch 5 as well as --watch=5 */
            if (!optarg && optind < argc && parse_seconds(argv[optind], 0.2, 86400, &d)) {
                o->watch_s = d;
                optind++;
            } else if (optarg && !parse_seconds(optarg, 0.2, 86400, &o->watch_s)) {
                return bad("watch interval (0.2-86400 s)", optarg);
            }
            break;
        case O_JSON: o->json = true; break;
        case O_MAX_LAG:
            if (!parse_long(optarg, 0, (long long)1 << 62, &o->max_lag)) return bad("max-lag", optarg);
            break;
        case O_CHECK: o->check = true; break;
        case O_DONOR_OK: o->donor_ok = true; break;
        case O_RO_NOT_OK: o->read_only_not_ok = true; break;
        case O_DISABLE_FILE: o->disable_file = optarg; break;
        case O_SERVE: o->serve = optarg; break;
        case O_MAX_CONN:
            if (!parse_long(optarg, 1, 1000, &v)) return bad("max-connections (1-1000)", optarg);
            o->max_clients = (int)v;
            break;
        case 'V':
            printf("trireme-status %s (MariaDB Connector/C %s)\n", TRIREME_VERSION,
                   mysql_get_client_info());
            exit(0);
        case O_HELP:
            fputs(usage, stdout);
            exit(0);
        case '?':
            fprintf(stderr, "trireme-status: unknown option '%s' (see --help)\n", argv[optind - 1]);
            return -1;
        case ':':
            fprintf(stderr, "trireme-status: option '%s' needs a value\n", argv[optind - 1]);
            return -1;
        default:
            return -1;
        }
    }
    if (optind < argc) return bad("argument", argv[optind]);
    if (o->check && o->serve) {
        fprintf(stderr, "trireme-status: --check and --serve-check exclude each other\n");
        return -1;
    }
    if ((o->check || o->serve) && (o->watch_s > 0 || o->json || o->nodes)) {
        fprintf(stderr, "trireme-status: --watch, --json and --nodes are for the cluster view, "
                        "not with --check or --serve-check\n");
        return -1;
    }
    if (!o->check && !o->serve && (o->donor_ok || o->read_only_not_ok || o->disable_file)) {
        fprintf(stderr, "trireme-status: --donor-ok, --read-only-not-ok and --disable-file "
                        "need --check or --serve-check\n");
        return -1;
    }
    return 0;
}
