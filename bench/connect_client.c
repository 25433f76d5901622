/*
 * Load client for `npm run bench:accept`.
 *
 *   connect_client [-t THREADS] [-c CAP_SECONDS] [-T TIMEOUT_MS] [-m wait|fire] HOST PORT N
 *
 * Opens N connections in total, one after the other within each of THREADS threads (default 1,
 * the "one client" figure of DESIGN section 1). Each connection: socket, blocking connect, then
 *   -m wait (default): wait until the server closes it (EOF, or a reset), then close;
 *   -m fire: close at once (runs ahead of a slow server: its accept queue fills, SYNs are
 *            dropped and each costs a 1 s retransmit, so the figure measures those waits);
 * always closing with SO_LINGER {1,0} (an RST: no TIME_WAIT piles up and skews later runs).
 * Stops early once CAP_SECONDS (default 60) have passed. TIMEOUT_MS (default 5000) bounds the
 * connect and the wait. A failed connect (ECONNRESET / ECONNREFUSED: the workbench resets
 * rejected callers; timeout) is counted as an error and the run goes on.
 *
 * Prints one JSON object:
 *   {"connections":OK,"errors":E,"seconds":S,"attempts":A,"threads":T,"mode":"wait",
 *    "capped":false,"slowConnects":K,"maxConnectMs":M,"waitTimeouts":W,"waitResets":R,
 *    "errorCounts":{...}}
 * connections = successful connects; seconds = wall time of the whole run (monotonic clock).
 * slowConnects counts connects that took >= 200 ms: a SYN the listener dropped (full accept
 * queue) is retransmitted after ~1 s, so these show the server fell behind.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 256
#define SLOW_CONNECT_NS 200000000LL

static struct sockaddr_in target;
static long long total_wanted;
static long long cap_ns;
static long long connect_timeout_ms;
static long long start_ns;
static atomic_llong claimed;
static atomic_int capped;
static int wait_for_server;

struct thread_result {
  long long ok, attempts;
  long long reset, refused, timedout, other;
  long long slow, max_connect_ns;
  long long wait_timeouts, wait_resets;
  int first_other_errno;
};

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void *run(void *arg) {
  struct thread_result *r = arg;
  struct linger lg = {1, 0};
  struct timeval tv = {connect_timeout_ms / 1000, (connect_timeout_ms % 1000) * 1000};
  for (;;) {
    if (atomic_fetch_add(&claimed, 1) >= total_wanted) break;
    long long t0 = now_ns();
    if (t0 - start_ns >= cap_ns) {
      atomic_store(&capped, 1);
      break;
    }
    r->attempts++;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
      r->other++;
      if (!r->first_other_errno) r->first_other_errno = errno;
      continue;
    }
    /* Linger {1,0} before connect so every close below is abortive, failed connects too. */
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    /* On Linux SO_SNDTIMEO bounds a blocking connect (EINPROGRESS when it runs out). */
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (wait_for_server) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int rc = connect(fd, (struct sockaddr *)&target, sizeof target);
    long long dt = now_ns() - t0;
    if (dt > r->max_connect_ns) r->max_connect_ns = dt;
    if (dt >= SLOW_CONNECT_NS) r->slow++;
    if (rc == 0 && wait_for_server) {
      /* Wait until the server has taken the connection and closed it (EOF, or a reset for a
       * rejected caller). Keeps the client from running ahead of a slow server. */
      char buf[64];
      ssize_t n;
      do {
        n = recv(fd, buf, sizeof buf, 0);
      } while (n > 0 || (n < 0 && errno == EINTR));
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        r->wait_timeouts++; /* the server never closed within the timeout */
      } else if (n < 0 && errno == ECONNRESET) {
        r->wait_resets++;
      }
    }
    if (rc == 0) {
      r->ok++;
    } else if (errno == ECONNRESET) {
      r->reset++;
    } else if (errno == ECONNREFUSED) {
      r->refused++;
    } else if (errno == EINPROGRESS || errno == EAGAIN || errno == ETIMEDOUT) {
      r->timedout++;
    } else {
      r->other++;
      if (!r->first_other_errno) r->first_other_errno = errno;
    }
    close(fd);
  }
  return NULL;
}

static long long parse_ll(const char *s, const char *what, long long min, long long max) {
  char *end = NULL;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || !end || *end || v < min || v > max) {
    fprintf(stderr, "connect_client: bad %s: %s\n", what, s);
    exit(2);
  }
  return v;
}

static void usage(const char *argv0) {
  fprintf(stderr,
          "usage: %s [-t THREADS] [-c CAP_SECONDS] [-T TIMEOUT_MS] [-m wait|fire] HOST PORT N\n",
          argv0);
  exit(2);
}

int main(int argc, char **argv) {
  int threads = 1;
  long long cap_s = 60;
  connect_timeout_ms = 5000;
  wait_for_server = 1;
  int opt;
  while ((opt = getopt(argc, argv, "t:c:T:m:")) != -1) {
    switch (opt) {
      case 't': threads = (int)parse_ll(optarg, "thread count", 1, MAX_THREADS); break;
      case 'c': cap_s = parse_ll(optarg, "cap seconds", 1, 86400); break;
      case 'T': connect_timeout_ms = parse_ll(optarg, "timeout", 1, 600000); break;
      case 'm':
        if (strcmp(optarg, "wait") == 0) wait_for_server = 1;
        else if (strcmp(optarg, "fire") == 0) wait_for_server = 0;
        else usage(argv[0]);
        break;
      default: usage(argv[0]);
    }
  }
  if (argc - optind != 3) usage(argv[0]);
  signal(SIGPIPE, SIG_IGN);
  memset(&target, 0, sizeof target);
  target.sin_family = AF_INET;
  if (inet_pton(AF_INET, argv[optind], &target.sin_addr) != 1) {
    fprintf(stderr, "connect_client: bad IPv4 address %s\n", argv[optind]);
    return 2;
  }
  target.sin_port = htons((unsigned short)parse_ll(argv[optind + 1], "port", 1, 65535));
  total_wanted = parse_ll(argv[optind + 2], "connection count", 0, 1000000000LL);
  cap_ns = cap_s * 1000000000LL;

  static struct thread_result results[MAX_THREADS];
  pthread_t tids[MAX_THREADS];
  atomic_store(&claimed, 0);
  atomic_store(&capped, 0);
  start_ns = now_ns();
  for (int i = 0; i < threads; i++) {
    if (pthread_create(&tids[i], NULL, run, &results[i]) != 0) {
      perror("connect_client: pthread_create");
      return 1;
    }
  }
  for (int i = 0; i < threads; i++) pthread_join(tids[i], NULL);
  double seconds = (double)(now_ns() - start_ns) / 1e9;

  struct thread_result sum;
  memset(&sum, 0, sizeof sum);
  for (int i = 0; i < threads; i++) {
    struct thread_result *r = &results[i];
    sum.ok += r->ok;
    sum.attempts += r->attempts;
    sum.reset += r->reset;
    sum.refused += r->refused;
    sum.timedout += r->timedout;
    sum.other += r->other;
    sum.slow += r->slow;
    sum.wait_timeouts += r->wait_timeouts;
    sum.wait_resets += r->wait_resets;
    if (r->max_connect_ns > sum.max_connect_ns) sum.max_connect_ns = r->max_connect_ns;
    if (!sum.first_other_errno) sum.first_other_errno = r->first_other_errno;
  }
  long long errors = sum.reset + sum.refused + sum.timedout + sum.other;
  printf("{\"connections\":%lld,\"errors\":%lld,\"seconds\":%.6f,\"attempts\":%lld,\"threads\":%d,"
         "\"mode\":\"%s\",\"capped\":%s,\"slowConnects\":%lld,\"maxConnectMs\":%.3f,"
         "\"waitTimeouts\":%lld,\"waitResets\":%lld,"
         "\"errorCounts\":{\"ECONNRESET\":%lld,\"ECONNREFUSED\":%lld,\"timeout\":%lld,\"other\":%lld",
         sum.ok, errors, seconds, sum.attempts, threads, wait_for_server ? "wait" : "fire",
         atomic_load(&capped) ? "true" : "false", sum.slow, (double)sum.max_connect_ns / 1e6,
         sum.wait_timeouts, sum.wait_resets, sum.reset, sum.refused, sum.timedout, sum.other);
  if (sum.other) printf(",\"firstOther\":\"%s\"", strerror(sum.first_other_errno));
  printf("}}\n");
  return 0;
}
