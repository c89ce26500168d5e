/* tools/trireme-arbd/arbd.h: the arbitrator daemon's settings, read as garbd reads its own
 * (command line, then a --cfg file of the same long names; docs/design/arbitrator.md). */
#ifndef ARBD_H
#define ARBD_H

#include <stdbool.h>
#include <stddef.h>

#define ARBD_STR 4096

struct arbd_opts {
    char address[ARBD_STR]; /* gcomm://host:port,... */
    char group[256];        /* wsrep_cluster_name */
    char options[ARBD_STR]; /* provider options: group communication only */
    char name[256];
    char log[ARBD_STR];
    char workdir[ARBD_STR];
    char cfg[ARBD_STR];
    bool daemon;
    /* what the command line set: it wins over the file */
    unsigned set;
};

/* 0 to run, 1 when --help or --version was answered, -1 on a bad option (err says which). */
int arbd_opts_parse(int argc, char **argv, struct arbd_opts *o, char *err, size_t errlen);
/* Reads the --cfg file into o (keys the command line set stay). 0, or -1 with err naming the
 * file and line. */
int arbd_opts_file(struct arbd_opts *o, const char *path, char *err, size_t errlen);
/* The checks after both: an address with a peer, a group. */
int arbd_opts_check(struct arbd_opts *o, char *err, size_t errlen);
void arbd_usage(FILE *f);

#endif
