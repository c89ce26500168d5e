/* tests/process/tcp_flood: an outsider that holds COUNT idle TCP connections to a node from one
 * source address, opening each again 10 ms after the node closes it (or trickling one
 * byte a second on each with "trickle"), for SECONDS. Prints what became of them. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXC 1024

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: tcp_flood HOST PORT SOURCE_ADDRESS COUNT SECONDS [trickle]\n");
        return 2;
    }
    int count = atoi(argv[4]);
    double secs = atof(argv[5]);
    int trickle = argc > 6 && !strcmp(argv[6], "trickle");
    if (count < 1 || count > MAXC) return 2;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *dst = NULL, *src = NULL;
    if (getaddrinfo(argv[1], argv[2], &hints, &dst) || getaddrinfo(argv[3], "0", &hints, &src)) {
        fprintf(stderr, "tcp_flood: cannot resolve the addresses\n");
        return 2;
    }
    static struct pollfd pf[MAXC];
    static double reopen_at[MAXC];
    long opened = 0, closed = 0, failed = 0;
    double end = now_s() + secs, next_byte = now_s() + 1;
    for (int i = 0; i < count; i++) pf[i].fd = -1;
    while (now_s() < end) {
        double t = now_s();
        for (int i = 0; i < count; i++) {
            if (pf[i].fd >= 0 || t < reopen_at[i]) continue;
            int fd = socket(dst->ai_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
            if (fd < 0 || bind(fd, src->ai_addr, src->ai_addrlen) ||
                (connect(fd, dst->ai_addr, dst->ai_addrlen) && errno != EINPROGRESS)) {
                if (fd >= 0) close(fd);
                failed++;
                reopen_at[i] = t + 0.01;
                continue;
            }
            pf[i].fd = fd;
            pf[i].events = POLLIN;
            opened++;
        }
        if (trickle && t >= next_byte) { /* one byte: never a whole frame, never a whole TLS record */
            for (int i = 0; i < count; i++)
                if (pf[i].fd >= 0 && send(pf[i].fd, "x", 1, MSG_NOSIGNAL) < 0 && errno != EAGAIN) {}
            next_byte = t + 1;
        }
        if (poll(pf, (nfds_t)count, 100) <= 0) continue;
        for (int i = 0; i < count; i++) {
            if (pf[i].fd < 0 || !(pf[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            char buf[4096];
            ssize_t r = recv(pf[i].fd, buf, sizeof buf, 0);
            if (r > 0 || (r < 0 && errno == EAGAIN)) continue; /* whatever the node says is ignored */
            close(pf[i].fd);
            pf[i].fd = -1;
            closed++;
            reopen_at[i] = now_s() + 0.01;
        }
    }
    int open_now = 0;
    for (int i = 0; i < count; i++)
        if (pf[i].fd >= 0) { open_now++; close(pf[i].fd); }
    printf("tcp_flood: %ld opened, %ld closed by the node, %ld failed to open, %d open at the end\n", opened,
           closed, failed, open_now);
    freeaddrinfo(dst);
    freeaddrinfo(src);
    return 0;
}
