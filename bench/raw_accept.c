/*
 * Baseline server for `npm run bench:accept`: the cheapest possible accept loop.
 *
 *   raw_accept HOST PORT
 *
 * socket, SO_REUSEADDR, bind, listen(511), then blocking accept -> close forever.
 * Prints one JSON line when listening ({"type":"listening",...}) so the harness knows
 * when to start the load, and on SIGINT/SIGTERM a summary line with the accept count
 * (so the harness can check the server really took what the client reports).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested = 0;

static void on_signal(int sig) {
  (void)sig;
  stop_requested = 1;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s HOST PORT\n", argv[0]);
    return 2;
  }
  const char *host = argv[1];
  int port = atoi(argv[2]);
  if (port <= 0 || port > 65535) {
    fprintf(stderr, "raw_accept: bad port %s\n", argv[2]);
    return 2;
  }

  /* No SA_RESTART: a signal must interrupt the blocking accept(). */
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  if (lfd < 0) { perror("raw_accept: socket"); return 1; }
  int one = 1;
  if (setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) {
    perror("raw_accept: SO_REUSEADDR");
    return 1;
  }
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((unsigned short)port);
  if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
    fprintf(stderr, "raw_accept: bad IPv4 address %s\n", host);
    return 2;
  }
  if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) != 0) { perror("raw_accept: bind"); return 1; }
  if (listen(lfd, 511) != 0) { perror("raw_accept: listen"); return 1; }

  printf("{\"type\":\"listening\",\"address\":\"%s\",\"port\":%d,\"pid\":%ld}\n", host, port, (long)getpid());
  fflush(stdout);

  unsigned long long accepted = 0, errors = 0;
  while (!stop_requested) {
    int fd = accept(lfd, NULL, NULL);
    if (fd >= 0) {
      accepted++;
      close(fd);
    } else if (errno != EINTR) {
      /* ECONNABORTED etc.: the peer went away before we took it; keep going. */
      errors++;
    }
  }
  close(lfd);
  printf("{\"type\":\"summary\",\"accepted\":%llu,\"acceptErrors\":%llu}\n", accepted, errors);
  fflush(stdout);
  return 0;
}
