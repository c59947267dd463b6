/* resolve.c — the C client of the resolver matrix, built twice from this one source: against glibc
 * (dynamic, in a Debian image) and against musl (`musl-gcc -static`, in an image FROM scratch).
 * It checks a Cloud Map name with the C library's own resolver:
 *
 *   getaddrinfo(NAME)          the IPv4 addresses are exactly EXPECT_A           (else exit 10)
 *   GET http://NAME:PORT/health through getaddrinfo's addresses answers 200     (else exit 11)
 *   res_query(SRV_NAME, SRV)   the targets are exactly EXPECT_SRV ("target:port") (else exit 20)
 *   each SRV target            getaddrinfo gives addresses within EXPECT_A and
 *                              GET http://target:port/health answers 200         (else exit 21)
 *
 * SRV_NAME is optional; the contract (environment, exit codes) is the one of every client in this
 * directory (README.md). getaddrinfo asks for A and AAAA (AF_UNSPEC), as programs do by default. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <ctype.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define MAX_ITEMS 16
#define ITEM_LEN (NS_MAXDNAME + 8) /* a name and ":port" */

struct list {
  int count;
  char items[MAX_ITEMS][ITEM_LEN];
};

static void add_unique(struct list *list, const char *item) {
  for (int i = 0; i < list->count; i++)
    if (strcasecmp(list->items[i], item) == 0) return;
  if (list->count < MAX_ITEMS) snprintf(list->items[list->count++], ITEM_LEN, "%s", item);
}

static void split_words(const char *text, struct list *out) {
  char copy[MAX_ITEMS * ITEM_LEN];
  snprintf(copy, sizeof copy, "%s", text);
  for (char *word = strtok(copy, " \t\n"); word; word = strtok(NULL, " \t\n")) add_unique(out, word);
}

static int contains(const struct list *list, const char *item) {
  for (int i = 0; i < list->count; i++)
    if (strcasecmp(list->items[i], item) == 0) return 1;
  return 0;
}

static int same_set(const struct list *a, const struct list *b) {
  if (a->count != b->count) return 0;
  for (int i = 0; i < a->count; i++)
    if (!contains(b, a->items[i])) return 0;
  return 1;
}

static void print_list(const char *prefix, const struct list *list) {
  printf("%s", prefix);
  for (int i = 0; i < list->count; i++) printf(" %s", list->items[i]);
  printf("\n");
}

/* getaddrinfo(name), AF_UNSPEC: its IPv4 addresses into out; 0, or the error printed. */
static int lookup_ipv4(const char *name, struct list *out) {
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *result, *ai;
  int error = getaddrinfo(name, NULL, &hints, &result);
  if (error != 0) {
    printf("FAIL getaddrinfo %s: %s\n", name, gai_strerror(error));
    return -1;
  }
  for (ai = result; ai; ai = ai->ai_next) {
    char text[INET6_ADDRSTRLEN];
    if (ai->ai_family == AF_INET) {
      inet_ntop(AF_INET, &((struct sockaddr_in *)ai->ai_addr)->sin_addr, text, sizeof text);
      add_unique(out, text);
    } else if (ai->ai_family == AF_INET6) {
      inet_ntop(AF_INET6, &((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr, text, sizeof text);
      printf("note getaddrinfo %s also gave IPv6 %s\n", name, text);
    }
  }
  freeaddrinfo(result);
  return 0;
}

/* GET http://host:port/health, connecting to what getaddrinfo gives; 0 on an HTTP 200. */
static int http_health(const char *host, const char *port) {
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *result, *ai;
  int error = getaddrinfo(host, port, &hints, &result);
  if (error != 0) {
    printf("FAIL http %s:%s: getaddrinfo: %s\n", host, port, gai_strerror(error));
    return -1;
  }
  int ok = -1;
  for (ai = result; ai && ok != 0; ai = ai->ai_next) {
    int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (fd < 0) continue;
    struct timeval timeout = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
      char request[512], response[64] = {0};
      int length = snprintf(request, sizeof request,
                            "GET /health HTTP/1.0\r\nHost: %s:%s\r\nConnection: close\r\n\r\n", host, port);
      if (write(fd, request, length) == length && read(fd, response, sizeof response - 1) > 0) {
        char *line_end = strpbrk(response, "\r\n");
        if (line_end) *line_end = 0;
        if (strncmp(response, "HTTP/1.", 7) == 0 && strncmp(response + 8, " 200", 4) == 0) ok = 0;
        else printf("FAIL http %s:%s: %s\n", host, port, response);
      }
    } else {
      perror("connect");
    }
    close(fd);
  }
  freeaddrinfo(result);
  if (ok == 0) printf("ok http GET http://%s:%s/health: 200\n", host, port);
  else printf("FAIL http GET http://%s:%s/health\n", host, port);
  return ok;
}

static unsigned read16(const unsigned char *p) { return (unsigned)p[0] << 8 | p[1]; }

/* res_query(name, IN, SRV): "target:port" of each answer into out; 0, or the error printed. */
static int lookup_srv(const char *name, struct list *out) {
  unsigned char answer[4096];
  int length = res_query(name, ns_c_in, ns_t_srv, answer, sizeof answer);
  if (length < 12) {
    printf("FAIL res_query %s SRV: %s (h_errno %d)\n", name, length < 0 ? hstrerror(h_errno) : "short",
           h_errno);
    return -1;
  }
  const unsigned char *end = answer + length, *p = answer + 12;
  unsigned questions = read16(answer + 4), answers = read16(answer + 6);
  char text[NS_MAXDNAME];
  for (unsigned i = 0; i < questions; i++) {
    int skip = dn_expand(answer, end, p, text, sizeof text);
    if (skip < 0 || p + skip + 4 > end) goto malformed;
    p += skip + 4;
  }
  for (unsigned i = 0; i < answers; i++) {
    int skip = dn_expand(answer, end, p, text, sizeof text);
    if (skip < 0 || p + skip + 10 > end) goto malformed;
    p += skip;
    unsigned type = read16(p), rdlength = read16(p + 8);
    p += 10;
    if (p + rdlength > end) goto malformed;
    if (type == ns_t_srv && rdlength > 6) {
      unsigned port = read16(p + 4);
      if (dn_expand(answer, end, p + 6, text, sizeof text) < 0) goto malformed;
      char item[ITEM_LEN];
      snprintf(item, sizeof item, "%s:%u", text, port);
      add_unique(out, item);
    }
    p += rdlength;
  }
  return 0;
malformed:
  printf("FAIL res_query %s SRV: malformed answer\n", name);
  return -1;
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  const char *name = getenv("NAME"), *expect_a = getenv("EXPECT_A"), *port = getenv("PORT");
  const char *srv_name = getenv("SRV_NAME"), *expect_srv = getenv("EXPECT_SRV");
  if (!name || !expect_a || !port || (srv_name && !expect_srv)) {
    printf("FAIL usage: NAME, EXPECT_A, PORT (and EXPECT_SRV with SRV_NAME) must be set\n");
    return 2;
  }
  struct list expected = {0}, found = {0};
  split_words(expect_a, &expected);
  if (lookup_ipv4(name, &found) != 0) return 10;
  if (!same_set(&found, &expected)) {
    print_list("FAIL getaddrinfo gave", &found);
    print_list("     expected", &expected);
    return 10;
  }
  print_list("ok getaddrinfo", &found);
  if (http_health(name, port) != 0) return 11;

  if (!srv_name) return 0;
  struct list expected_srv = {0}, srv = {0};
  split_words(expect_srv, &expected_srv);
  if (lookup_srv(srv_name, &srv) != 0) return 20;
  if (!same_set(&srv, &expected_srv)) {
    print_list("FAIL res_query SRV gave", &srv);
    print_list("     expected", &expected_srv);
    return 20;
  }
  print_list("ok res_query SRV", &srv);
  for (int i = 0; i < srv.count; i++) {
    char *target = srv.items[i], *colon = strrchr(target, ':');
    *colon = 0;
    struct list target_addresses = {0};
    if (lookup_ipv4(target, &target_addresses) != 0 || target_addresses.count == 0) return 21;
    for (int j = 0; j < target_addresses.count; j++)
      if (!contains(&expected, target_addresses.items[j])) {
        printf("FAIL getaddrinfo %s gave %s, not one of EXPECT_A\n", target, target_addresses.items[j]);
        return 21;
      }
    printf("ok getaddrinfo %s: %s\n", target, target_addresses.items[0]);
    if (http_health(target, colon + 1) != 0) return 21;
  }
  return 0;
}
