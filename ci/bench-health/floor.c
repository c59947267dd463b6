/* floor.c — the cost floor of an HTTP health probe on this machine, for ci/bench-health.sh.
 *
 * A minimal single-threaded prober: RATE probes a second for SECONDS, round-robin over the given
 * ip:port targets, each one new TCP connection with the same request the reference-server sends
 * (GET PATH, Connection: close), reading only up to the status line, then close. Probes are sent
 * in batches every millisecond (absolute-time sleeps), blocking I/O, no event loop, no
 * allocation: roughly the least CPU any connection-per-probe checker can spend. Prints key=value
 * lines: probes, ok, seconds, user_us, sys_us (getrusage of this process).
 *
 * Usage: floor RATE SECONDS PATH IP:PORT...
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: floor RATE SECONDS PATH IP:PORT...\n");
        return 2;
    }
    long rate = atol(argv[1]);
    double seconds = atof(argv[2]);
    const char *path = argv[3];
    int ntargets = argc - 4;
    struct sockaddr_in *addrs = calloc((size_t)ntargets, sizeof *addrs);
    char (*requests)[512] = calloc((size_t)ntargets, sizeof *requests);
    int *lens = calloc((size_t)ntargets, sizeof *lens);
    if (!addrs || !requests || !lens) return 2;
    for (int i = 0; i < ntargets; i++) {
        char host[64];
        snprintf(host, sizeof host, "%s", argv[4 + i]);
        char *colon = strrchr(host, ':');
        if (!colon) return 2;
        *colon = 0;
        addrs[i].sin_family = AF_INET;
        addrs[i].sin_port = htons((unsigned short)atoi(colon + 1));
        if (inet_pton(AF_INET, host, &addrs[i].sin_addr) != 1) return 2;
        lens[i] = snprintf(requests[i], sizeof requests[i],
                           "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: "
                           "cloudmap-reference-health-checker\r\nAccept: */*\r\nConnection: "
                           "close\r\n\r\n",
                           path, argv[4 + i]);
    }
    long per_ms = rate / 1000 > 0 ? rate / 1000 : 1;
    long probes = 0, ok = 0, errors = 0;
    unsigned next = 0;
    struct timespec tick;
    clock_gettime(CLOCK_MONOTONIC, &tick);
    double start = now();
    char buf[256];
    while (now() - start < seconds) {
        for (long k = 0; k < per_ms; k++) {
            int t = (int)(next++ % (unsigned)ntargets);
            int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (fd < 0) {
                errors++;
                continue;
            }
            probes++;
            if (connect(fd, (struct sockaddr *)&addrs[t], sizeof addrs[t]) == 0 &&
                write(fd, requests[t], (size_t)lens[t]) == lens[t]) {
                ssize_t n = read(fd, buf, sizeof buf - 1);
                if (n >= 12 && memcmp(buf, "HTTP/1.", 7) == 0 && (buf[9] == '2' || buf[9] == '3'))
                    ok++;
            } else {
                errors++;
            }
            close(fd);
        }
        tick.tv_nsec += 1000000;
        if (tick.tv_nsec >= 1000000000) {
            tick.tv_nsec -= 1000000000;
            tick.tv_sec++;
        }
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &tick, NULL) == EINTR) {
        }
    }
    double elapsed = now() - start;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("probes=%ld\nok=%ld\nerrors=%ld\nseconds=%.2f\nuser_us=%ld\nsys_us=%ld\n", probes, ok,
           errors, elapsed, (long)ru.ru_utime.tv_sec * 1000000L + ru.ru_utime.tv_usec,
           (long)ru.ru_stime.tv_sec * 1000000L + ru.ru_stime.tv_usec);
    return 0;
}
