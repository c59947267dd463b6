/* use-server-dns.c — `use-server-dns COMMAND...` points /etc/resolv.conf at the container's
 * default gateway, then runs COMMAND. On an ECS cluster network the reference server's DNS listens on
 * that gateway (port 53), while Docker writes `nameserver 127.0.0.11` (its embedded DNS, which
 * forwards to the server) into the resolv.conf of every container on a user-defined network; with
 * this wrapper a resolver talks to the server itself. Other resolv.conf lines (`options ndots:0`,
 * `search`) are kept. Built static with musl, so it runs in every image, FROM scratch included. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int default_gateway(char *text, size_t size) {
  FILE *routes = fopen("/proc/net/route", "r");
  if (!routes) return -1;
  char line[256];
  int found = -1;
  while (found != 0 && fgets(line, sizeof line, routes)) {
    char interface[64];
    unsigned long destination, gateway;
    /* Addresses are printed as the hex of their in-memory (network order) value. */
    if (sscanf(line, "%63s %lx %lx", interface, &destination, &gateway) == 3 && destination == 0 &&
        gateway != 0) {
      struct in_addr address = {.s_addr = (in_addr_t)gateway};
      found = inet_ntop(AF_INET, &address, text, size) ? 0 : -1;
    }
  }
  fclose(routes);
  return found;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: use-server-dns COMMAND [ARGUMENT...]\n");
    return 2;
  }
  char gateway[INET_ADDRSTRLEN];
  if (default_gateway(gateway, sizeof gateway) != 0) {
    fprintf(stderr, "use-server-dns: no default gateway in /proc/net/route\n");
    return 2;
  }
  /* Docker bind-mounts resolv.conf, so it is rewritten in place rather than replaced. */
  char kept[4096] = "", line[512];
  FILE *file = fopen("/etc/resolv.conf", "r");
  if (file) {
    while (fgets(line, sizeof line, file))
      if (strncmp(line, "nameserver", 10) != 0 && strlen(kept) + strlen(line) < sizeof kept)
        strcat(kept, line);
    fclose(file);
  }
  file = fopen("/etc/resolv.conf", "w");
  if (!file || fprintf(file, "nameserver %s\n%s", gateway, kept) < 0 || fclose(file) != 0) {
    perror("use-server-dns: /etc/resolv.conf");
    return 2;
  }
  fprintf(stderr, "use-server-dns: nameserver %s\n", gateway);
  execvp(argv[1], argv + 1);
  perror(argv[1]);
  return 127;
}
