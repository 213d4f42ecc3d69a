/*
 * The media benchmark's load side in C: the callers' RTP (`loadgen callers`) and the echo agent
 * (`loadgen agent`). Each is one single-threaded epoll loop, driven by the Node wrappers
 * `media-load.mjs` and `echo-agent.mjs` through one command per line on stdin and one JSON reply
 * per line on stdout (the wrappers keep SIP, IPC and SRTP). It exists because the Node versions
 * of the same work filled the load core at 400-500 calls, and a saturated load core adds its own
 * queueing to every latency figure. The frame stamp is the one in `lib/stamp.mjs`.
 *
 * Build: gcc -O2 -Wall -o loadgen loadgen.c   (media.mjs does this into bench/out/ when needed)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define FRAME_BYTES 160
#define STAMP_BYTES 34
#define RTP_HEADER 12
#define PHASES 20
#define MAX_WINDOWS 64
#define MAX_MESSAGE (1 << 20)

static void die(const char *what) {
  fprintf(stderr, "loadgen: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void *xrealloc(void *p, size_t n) {
  void *q = realloc(p, n);
  if (!q) { fprintf(stderr, "loadgen: out of memory\n"); exit(1); }
  return q;
}

static int64_t mono_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void set_nonblocking(int fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) die("fcntl");
}

/* ---- the stamp (same layout as lib/stamp.mjs: one nibble per byte, 0x80 + nibble) ---------- */

static void write_nibbles(uint8_t *b, uint64_t v, int count) {
  for (int i = count - 1; i >= 0; i--) { b[i] = 0x80 + (v & 15); v >>= 4; }
}

static uint64_t read_nibbles(const uint8_t *b, int count) {
  uint64_t v = 0;
  for (int i = 0; i < count; i++) v = (v << 4) | (b[i] & 15);
  return v;
}

struct stamp { uint64_t call, seq, window; int64_t send_us; };

static int read_stamp(const uint8_t *b, size_t len, struct stamp *s) {
  if (len < STAMP_BYTES) return 0;
  for (int i = 0; i < STAMP_BYTES; i++) if ((b[i] & 0xf0) != 0x80) return 0;
  s->call = read_nibbles(b, 8);
  s->seq = read_nibbles(b + 8, 8);
  s->window = read_nibbles(b + 16, 4);
  s->send_us = (int64_t)read_nibbles(b + 20, 14);
  return 1;
}

/* ---- per-window counters and latency samples ----------------------------------------------- */

struct window {
  uint64_t id;
  uint64_t sent, frames;
  int64_t *lat;
  size_t n, cap;
};
static struct window windows[MAX_WINDOWS];

static struct window *window_get(uint64_t id, int create) {
  struct window *free_slot = NULL;
  for (int i = 0; i < MAX_WINDOWS; i++) {
    if (windows[i].id == id) return &windows[i];
    if (!free_slot && windows[i].id == 0) free_slot = &windows[i];
  }
  if (!create) return NULL;
  if (!free_slot) { fprintf(stderr, "loadgen: more than %d open windows\n", MAX_WINDOWS); exit(1); }
  memset(free_slot, 0, sizeof *free_slot);
  free_slot->id = id;
  return free_slot;
}

static void window_sample(struct window *w, int64_t us) {
  if (w->n == w->cap) { w->cap = w->cap ? w->cap * 2 : 4096; w->lat = xrealloc(w->lat, w->cap * sizeof *w->lat); }
  w->lat[w->n++] = us;
}

static void window_free(struct window *w) {
  free(w->lat);
  memset(w, 0, sizeof *w);
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

/* Nearest-rank percentile in ms, like lib/common.mjs; "null" when there are no samples. */
static void print_percentile(const int64_t *sorted, size_t n, double p) {
  if (n == 0) { fputs("null", stdout); return; }
  double r = p / 100.0 * (double)n;
  long rank = (long)r;
  if ((double)rank < r) rank++;
  rank -= 1;
  if (rank < 0) rank = 0;
  if (rank > (long)n - 1) rank = (long)n - 1;
  printf("%.3f", (double)sorted[rank] / 1000.0);
}

/* ---- commands on stdin --------------------------------------------------------------------- */

static char cmd_buf[4096];
static size_t cmd_len;

/* Reads what is on stdin and calls handle() for every complete line; exits on EOF (the wrapper
 * is gone). */
static void read_commands(void (*handle)(char *line)) {
  for (;;) {
    ssize_t r = read(0, cmd_buf + cmd_len, sizeof cmd_buf - 1 - cmd_len);
    if (r == 0) exit(0);
    if (r < 0) { if (errno == EAGAIN || errno == EINTR) return; die("read stdin"); }
    cmd_len += (size_t)r;
    char *start = cmd_buf, *nl;
    while ((nl = memchr(start, '\n', cmd_len - (size_t)(start - cmd_buf)))) {
      *nl = 0;
      handle(start);
      fflush(stdout);
      start = nl + 1;
    }
    cmd_len -= (size_t)(start - cmd_buf);
    memmove(cmd_buf, start, cmd_len);
    if (cmd_len == sizeof cmd_buf - 1) { fprintf(stderr, "loadgen: command too long\n"); exit(1); }
  }
}

static int epfd;

static void ep_add(int fd, uint32_t events, uint64_t tag) {
  struct epoll_event ev = { .events = events, .data.u64 = tag };
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl add");
}

static void ep_mod(int fd, uint32_t events, uint64_t tag) {
  struct epoll_event ev = { .events = events, .data.u64 = tag };
  if (epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev) < 0) die("epoll_ctl mod");
}

/* Waits for events forever and hands each one's tag and event bits to `on_event`. */
static _Noreturn void event_loop(void (*on_event)(uint64_t tag, uint32_t events)) {
  struct epoll_event evs[256];
  for (;;) {
    int n = epoll_wait(epfd, evs, 256, -1);
    if (n < 0) { if (errno == EINTR) continue; die("epoll_wait"); }
    for (int i = 0; i < n; i++) on_event(evs[i].data.u64, evs[i].events);
  }
}

/* Tags: the kind in the top byte, an index below. */
#define TAG_STDIN (1ULL << 56)
#define TAG_TIMER (2ULL << 56)
#define TAG_LISTEN (3ULL << 56)
#define TAG_CALL (4ULL << 56)
#define TAG_CONN (5ULL << 56)
#define TAG_KIND(t) ((t) & (0xffULL << 56))
#define TAG_INDEX(t) ((size_t)((t) & ((1ULL << 56) - 1)))

/* =============================================================================================
 * callers: one UDP socket per call, one stamped PCMU frame per call every 20 ms
 * ============================================================================================= */

struct call {
  int fd;
  int sending;
  struct sockaddr_in target;
  uint64_t seq;
  uint16_t rtp_seq;
  uint32_t ts, ssrc;
  uint8_t frame[RTP_HEADER + FRAME_BYTES];
};

static struct call *calls;
static size_t ncalls, calls_cap;
static uint64_t current_window;
static double skipped_ms;
static uint64_t send_errors;

static uint32_t rnd32(void) {
  static uint64_t s = 0;
  if (!s) s = (uint64_t)mono_us() * 0x9E3779B97F4A7C15ULL ^ (uint64_t)getpid();
  s ^= s << 13; s ^= s >> 7; s ^= s << 17;
  return (uint32_t)(s >> 16);
}

static void call_send(struct call *c) {
  if (!c->sending) return;
  uint8_t *b = c->frame;
  b[2] = c->rtp_seq >> 8; b[3] = c->rtp_seq & 0xff;
  b[4] = c->ts >> 24; b[5] = c->ts >> 16; b[6] = c->ts >> 8; b[7] = c->ts;
  c->rtp_seq++;
  c->ts += 160;
  uint64_t w = current_window;
  uint8_t *st = b + RTP_HEADER;
  write_nibbles(st, (uint64_t)(c - calls), 8);
  write_nibbles(st + 8, c->seq++, 8);
  write_nibbles(st + 16, w, 4);
  write_nibbles(st + 20, (uint64_t)mono_us(), 14);
  if (w > 0) window_get(w, 1)->sent++;
  if (sendto(c->fd, b, sizeof c->frame, 0, (struct sockaddr *)&c->target, sizeof c->target) < 0) send_errors++;
}

static void call_receive(struct call *c) {
  uint8_t buf[2048];
  for (;;) {
    ssize_t n = recv(c->fd, buf, sizeof buf, 0);
    if (n < 0) return; /* EAGAIN, or an ICMP error from a closed port: nothing to count */
    if (n < RTP_HEADER + STAMP_BYTES) continue;
    size_t off = RTP_HEADER + 4 * (buf[0] & 0x0f);
    if ((buf[0] & 0x10) && (size_t)n >= off + 4) off += 4 + 4 * (((size_t)buf[off + 2] << 8) | buf[off + 3]);
    struct stamp s;
    if ((size_t)n < off || !read_stamp(buf + off, (size_t)n - off, &s) || s.window == 0) continue;
    struct window *w = window_get(s.window, 1);
    w->frames++;
    window_sample(w, mono_us() - s.send_us);
  }
}

static void callers_command(char *line) {
  char host[64];
  unsigned long id, port, win;
  if (strcmp(line, "open") == 0) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    if (fd < 0) die("socket");
    int sz = 1 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) die("bind");
    socklen_t al = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &al);
    if (ncalls == calls_cap) { calls_cap = calls_cap ? calls_cap * 2 : 256; calls = xrealloc(calls, calls_cap * sizeof *calls); }
    struct call *c = &calls[ncalls];
    memset(c, 0, sizeof *c);
    c->fd = fd;
    c->rtp_seq = (uint16_t)rnd32();
    c->ts = rnd32();
    c->ssrc = rnd32();
    memset(c->frame, 0xff, sizeof c->frame);
    c->frame[0] = 0x80;
    c->frame[1] = 0; /* PCMU */
    c->frame[8] = c->ssrc >> 24; c->frame[9] = c->ssrc >> 16; c->frame[10] = c->ssrc >> 8; c->frame[11] = c->ssrc;
    ep_add(fd, EPOLLIN, TAG_CALL | ncalls);
    printf("{\"id\":%zu,\"port\":%u}\n", ncalls, ntohs(a.sin_port));
    ncalls++;
  } else if (sscanf(line, "start %lu %63s %lu", &id, host, &port) == 3) {
    if (id >= ncalls || port == 0 || port > 65535) { printf("{\"error\":\"bad start\"}\n"); return; }
    struct call *c = &calls[id];
    c->target.sin_family = AF_INET;
    c->target.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &c->target.sin_addr) != 1) { printf("{\"error\":\"bad host\"}\n"); return; }
    c->sending = 1;
    printf("{}\n");
  } else if (sscanf(line, "window %lu", &win) == 1) {
    uint64_t prev = current_window;
    current_window = win;
    struct window *w = prev ? window_get(prev, 0) : NULL;
    printf("{\"sent\":%llu}\n", (unsigned long long)(w ? w->sent : 0));
  } else if (sscanf(line, "peek %lu", &win) == 1) {
    struct window *w = window_get(win, 0);
    printf("{\"sent\":%llu,\"echoed\":%llu}\n", (unsigned long long)(w ? w->sent : 0), (unsigned long long)(w ? w->frames : 0));
  } else if (sscanf(line, "stats %lu", &win) == 1) {
    struct window *w = window_get(win, 0);
    size_t n = w ? w->n : 0;
    if (n) qsort(w->lat, n, sizeof *w->lat, cmp_i64);
    printf("{\"sent\":%llu,\"echoed\":%llu,\"skippedMs\":%.0f,\"sendErrors\":%llu,\"rttMs\":{\"p50\":",
           (unsigned long long)(w ? w->sent : 0), (unsigned long long)(w ? w->frames : 0), skipped_ms, (unsigned long long)send_errors);
    print_percentile(w ? w->lat : NULL, n, 50);
    fputs(",\"p99\":", stdout);
    print_percentile(w ? w->lat : NULL, n, 99);
    fputs("}}\n", stdout);
    if (w) window_free(w);
  } else if (strcmp(line, "stop") == 0) {
    for (size_t i = 0; i < ncalls; i++) calls[i].sending = 0;
    printf("{}\n");
  } else if (strcmp(line, "close") == 0) {
    for (size_t i = 0; i < ncalls; i++) close(calls[i].fd);
    ncalls = 0;
    printf("{}\n");
  } else {
    printf("{\"error\":\"unknown command\"}\n");
  }
}

static int timer_fd;
static uint64_t tick;

static void callers_event(uint64_t t, uint32_t events) {
  (void)events;
  if (TAG_KIND(t) == TAG_TIMER) {
    uint64_t due;
    if (read(timer_fd, &due, sizeof due) != sizeof due) return;
    /* Catch up on a few missed milliseconds; after a longer stall skip ahead, so no call
     * ever sends faster than real time (frames not sent are not counted, so not lost). */
    uint64_t run = due > PHASES ? PHASES : due;
    if (due > run) skipped_ms += (double)(due - run);
    for (uint64_t k = 0; k < run; k++, tick++)
      for (size_t j = tick % PHASES; j < ncalls; j += PHASES) call_send(&calls[j]);
  } else if (TAG_KIND(t) == TAG_CALL) {
    size_t idx = TAG_INDEX(t);
    if (idx < ncalls) call_receive(&calls[idx]);
  } else if (TAG_KIND(t) == TAG_STDIN) {
    read_commands(callers_command);
  }
}

static _Noreturn void run_callers(void) {
  timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
  if (timer_fd < 0) die("timerfd_create");
  struct itimerspec its = { .it_interval = { 0, 1000000 }, .it_value = { 0, 1000000 } };
  if (timerfd_settime(timer_fd, 0, &its, NULL) < 0) die("timerfd_settime");
  ep_add(timer_fd, EPOLLIN, TAG_TIMER);
  printf("{\"ready\":true}\n");
  fflush(stdout);
  event_loop(callers_event);
}

/* =============================================================================================
 * agent: a WebSocket server that answers every `media` message with a `playAudio` of the same
 * payload, and times stamped frames from the caller's send to their arrival here
 * ============================================================================================= */

/* SHA-1 (FIPS 180-4), only for Sec-WebSocket-Accept. */
static void sha1(const uint8_t *msg, size_t len, uint8_t out[20]) {
  uint32_t h[5] = { 0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0 };
  size_t total = ((len + 8) / 64 + 1) * 64;
  uint8_t *m = calloc(total, 1);
  if (!m) exit(1);
  memcpy(m, msg, len);
  m[len] = 0x80;
  uint64_t bits = (uint64_t)len * 8;
  for (int i = 0; i < 8; i++) m[total - 1 - i] = (uint8_t)(bits >> (8 * i));
  for (size_t off = 0; off < total; off += 64) {
    uint32_t w[80];
    for (int i = 0; i < 16; i++) w[i] = (uint32_t)m[off + 4 * i] << 24 | (uint32_t)m[off + 4 * i + 1] << 16 | (uint32_t)m[off + 4 * i + 2] << 8 | m[off + 4 * i + 3];
    for (int i = 16; i < 80; i++) { uint32_t x = w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]; w[i] = x << 1 | x >> 31; }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; i++) {
      uint32_t f, k;
      if (i < 20) { f = (b & c) | (~b & d); k = 0x5A827999; }
      else if (i < 40) { f = b ^ c ^ d; k = 0x6ED9EBA1; }
      else if (i < 60) { f = (b & c) | (b & d) | (c & d); k = 0x8F1BBCDC; }
      else { f = b ^ c ^ d; k = 0xCA62C1D6; }
      uint32_t tmp = (a << 5 | a >> 27) + f + e + k + w[i];
      e = d; d = c; c = b << 30 | b >> 2; b = a; a = tmp;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e;
  }
  free(m);
  for (int i = 0; i < 5; i++) { out[4 * i] = h[i] >> 24; out[4 * i + 1] = h[i] >> 16; out[4 * i + 2] = h[i] >> 8; out[4 * i + 3] = h[i]; }
}

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static size_t base64_encode(const uint8_t *in, size_t n, char *out) {
  size_t o = 0;
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) | (i + 2 < n ? in[i + 2] : 0);
    out[o++] = B64[v >> 18 & 63];
    out[o++] = B64[v >> 12 & 63];
    out[o++] = i + 1 < n ? B64[v >> 6 & 63] : '=';
    out[o++] = i + 2 < n ? B64[v & 63] : '=';
  }
  out[o] = 0;
  return o;
}

/* Decodes whole groups of 4 characters; returns the bytes written, or -1 on a non-base64 one. */
static long base64_decode_prefix(const uint8_t *in, size_t n, uint8_t *out) {
  static int8_t table[256];
  static int ready = 0;
  if (!ready) {
    memset(table, -1, sizeof table);
    for (int i = 0; i < 64; i++) table[(uint8_t)B64[i]] = (int8_t)i;
    ready = 1;
  }
  size_t o = 0;
  for (size_t i = 0; i + 4 <= n; i += 4) {
    int a = table[in[i]], b = table[in[i + 1]], c = table[in[i + 2]], d = table[in[i + 3]];
    if (a < 0 || b < 0 || c < 0 || d < 0) return -1;
    uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
    out[o++] = v >> 16; out[o++] = v >> 8; out[o++] = v;
  }
  return (long)o;
}

struct conn {
  int fd;
  int open;       /* handshake done */
  int closing;    /* close frame sent: close the socket once the output is written */
  uint8_t *in; size_t in_len, in_cap;
  uint8_t *out; size_t out_len, out_cap;
  uint8_t *msg; size_t msg_len, msg_cap; int msg_opcode; int in_message;
  char prefix[320]; size_t prefix_len;
};

static struct conn **conns;
static size_t conns_cap;
static int listen_fd;
static long connections, starts, stops, bad_frames;

static const char PLAY_PREFIX[] = "{\"event\":\"playAudio\",\"media\":{\"contentType\":\"audio/x-mulaw\",\"sampleRate\":8000,\"payload\":\"";
static const char PLAY_SUFFIX[] = "\"}}";
static const char MEDIA_START[] = "{\"event\":\"media\"";
static const char PAYLOAD_KEY[] = "\"payload\":\"";
#define STAMP_CHARS 48

static void out_reserve(struct conn *c, size_t more) {
  if (c->out_len + more <= c->out_cap) return;
  size_t cap = c->out_cap ? c->out_cap : 4096;
  while (cap < c->out_len + more) cap *= 2;
  c->out = xrealloc(c->out, cap);
  c->out_cap = cap;
}

static void out_append(struct conn *c, const void *p, size_t n) {
  out_reserve(c, n);
  memcpy(c->out + c->out_len, p, n);
  c->out_len += n;
}

/* A server frame (never masked) of `len` payload bytes: writes the header, returns where the
 * payload goes. */
static uint8_t *frame_begin(struct conn *c, int opcode, size_t len) {
  out_reserve(c, len + 10);
  uint8_t *h = c->out + c->out_len;
  h[0] = 0x80 | (uint8_t)opcode;
  size_t hl;
  if (len < 126) { h[1] = (uint8_t)len; hl = 2; }
  else if (len < 65536) { h[1] = 126; h[2] = len >> 8; h[3] = len & 0xff; hl = 4; }
  else { h[1] = 127; for (int i = 0; i < 8; i++) h[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i)); hl = 10; }
  c->out_len += hl + len;
  return h + hl;
}

static void conn_close(size_t idx) {
  struct conn *c = conns[idx];
  if (!c) return;
  close(c->fd);
  if (c->open) connections--;
  free(c->in); free(c->out); free(c->msg); free(c);
  conns[idx] = NULL;
}

/* Writes what is queued; returns 0 when the connection was closed. */
static int conn_flush(size_t idx) {
  struct conn *c = conns[idx];
  size_t done = 0;
  while (done < c->out_len) {
    ssize_t w = write(c->fd, c->out + done, c->out_len - done);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) break;
      conn_close(idx);
      return 0;
    }
    done += (size_t)w;
  }
  memmove(c->out, c->out + done, c->out_len - done);
  c->out_len -= done;
  if (c->out_len == 0 && c->closing) { conn_close(idx); return 0; }
  ep_mod(c->fd, EPOLLIN | (c->out_len ? EPOLLOUT : 0), TAG_CONN | idx);
  return 1;
}

static const uint8_t *find_bytes(const uint8_t *hay, size_t n, const char *needle) {
  size_t k = strlen(needle);
  return k <= n ? memmem(hay, n, needle, k) : NULL;
}

static void on_text(struct conn *c, const uint8_t *data, size_t len, int64_t recv_us) {
  size_t ms = sizeof MEDIA_START - 1;
  if (len > ms && memcmp(data, MEDIA_START, ms) == 0) {
    const uint8_t *at = find_bytes(data, len, PAYLOAD_KEY);
    if (!at) { bad_frames++; return; }
    const uint8_t *start = at + sizeof PAYLOAD_KEY - 1;
    const uint8_t *end = memchr(start, '"', len - (size_t)(start - data));
    if (!end) { bad_frames++; return; }
    size_t plen = (size_t)(end - start);
    uint8_t decoded[64];
    struct stamp s;
    long dn = base64_decode_prefix(start, plen < STAMP_CHARS ? plen : STAMP_CHARS, decoded);
    if (dn >= STAMP_BYTES && read_stamp(decoded, (size_t)dn, &s)) {
      if (s.window > 0) {
        struct window *w = window_get(s.window, 1);
        w->frames++;
        window_sample(w, recv_us - s.send_us);
      }
    } else bad_frames++;
    size_t slen = sizeof PLAY_SUFFIX - 1;
    uint8_t *p = frame_begin(c, 1, c->prefix_len + plen + slen);
    memcpy(p, c->prefix, c->prefix_len);
    memcpy(p + c->prefix_len, start, plen);
    memcpy(p + c->prefix_len + plen, PLAY_SUFFIX, slen);
    return;
  }
  if (find_bytes(data, len, "\"event\":\"start\"")) {
    starts++;
    const uint8_t *sid = find_bytes(data, len, "\"streamId\":\"");
    if (sid) {
      sid += 12;
      const uint8_t *e = memchr(sid, '"', len - (size_t)(sid - data));
      if (e && e - sid < 128) {
        int n = snprintf(c->prefix, sizeof c->prefix,
                         "{\"event\":\"playAudio\",\"streamId\":\"%.*s\",\"media\":{\"contentType\":\"audio/x-mulaw\",\"sampleRate\":8000,\"payload\":\"",
                         (int)(e - sid), (const char *)sid);
        if (n > 0 && (size_t)n < sizeof c->prefix) c->prefix_len = (size_t)n;
      }
    }
  } else if (find_bytes(data, len, "\"event\":\"stop\"")) {
    stops++;
  } else if (!find_bytes(data, len, "\"event\":")) {
    bad_frames++;
  }
}

/* Handles the complete frames in c->in; returns 0 when the connection was closed. */
static int conn_frames(size_t idx, int64_t recv_us) {
  struct conn *c = conns[idx];
  size_t pos = 0;
  while (c->in_len - pos >= 2) {
    uint8_t *f = c->in + pos;
    size_t avail = c->in_len - pos;
    int fin = f[0] & 0x80, opcode = f[0] & 0x0f, masked = f[1] & 0x80;
    uint64_t len = f[1] & 0x7f;
    size_t hl = 2;
    if (len == 126) { if (avail < 4) break; len = (uint64_t)f[2] << 8 | f[3]; hl = 4; }
    else if (len == 127) { if (avail < 10) break; len = 0; for (int i = 0; i < 8; i++) len = len << 8 | f[2 + i]; hl = 10; }
    if (!masked || len > MAX_MESSAGE) { /* RFC 6455 §5.1: clients mask; fail with 1002 */
      uint8_t *o = frame_begin(c, 0x8, 2);
      o[0] = 1002 >> 8; o[1] = 1002 & 0xff;
      c->closing = 1;
      c->in_len = 0;
      return 1;
    }
    if (avail < hl + 4 + len) break;
    uint8_t *key = f + hl, *p = f + hl + 4;
    for (size_t i = 0; i < len; i++) p[i] ^= key[i & 3];
    pos += hl + 4 + (size_t)len;
    if (opcode == 0x8) { /* close: answer with the same status, then close */
      uint8_t *o = frame_begin(c, 0x8, len >= 2 ? 2 : 0);
      if (len >= 2) { o[0] = p[0]; o[1] = p[1]; }
      c->closing = 1;
      break;
    } else if (opcode == 0x9) {
      memcpy(frame_begin(c, 0xA, (size_t)len), p, (size_t)len);
    } else if (opcode == 0xA) {
      /* pong: nothing to do */
    } else if (opcode == 0x0 || !fin) { /* a fragment: gather the message */
      if (opcode != 0) { c->msg_len = 0; c->msg_opcode = opcode; c->in_message = 1; }
      if (!c->in_message || c->msg_len + len > MAX_MESSAGE) { conn_close(idx); return 0; }
      if (c->msg_len + len > c->msg_cap) { c->msg_cap = (c->msg_len + len) * 2; c->msg = xrealloc(c->msg, c->msg_cap); }
      memcpy(c->msg + c->msg_len, p, (size_t)len);
      c->msg_len += (size_t)len;
      if (fin) { c->in_message = 0; if (c->msg_opcode == 1) on_text(c, c->msg, c->msg_len, recv_us); }
    } else if (opcode == 0x1) {
      on_text(c, p, (size_t)len, recv_us);
    }
  }
  memmove(c->in, c->in + pos, c->in_len - pos);
  c->in_len -= pos;
  return 1;
}

static int conn_handshake(size_t idx) {
  struct conn *c = conns[idx];
  uint8_t *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
  if (!end) return c->in_len > 16384 ? (conn_close(idx), 0) : 1;
  size_t hlen = (size_t)(end - c->in) + 4;
  char key[128] = "";
  for (uint8_t *line = c->in; line < end;) {
    uint8_t *eol = memmem(line, (size_t)(end + 2 - line), "\r\n", 2);
    if (!eol) break;
    size_t ll = (size_t)(eol - line);
    if (ll > 18 && strncasecmp((char *)line, "sec-websocket-key:", 18) == 0) {
      uint8_t *v = line + 18;
      while (v < eol && (*v == ' ' || *v == '\t')) v++;
      uint8_t *ve = eol;
      while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) ve--;
      if ((size_t)(ve - v) < sizeof key) { memcpy(key, v, (size_t)(ve - v)); key[ve - v] = 0; }
    }
    line = eol + 2;
  }
  if (!key[0]) {
    const char bad[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    out_append(c, bad, sizeof bad - 1);
    c->closing = 1;
    return conn_flush(idx);
  }
  char joined[200];
  int jn = snprintf(joined, sizeof joined, "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", key);
  uint8_t digest[20];
  sha1((uint8_t *)joined, (size_t)jn, digest);
  char accept[32];
  base64_encode(digest, 20, accept);
  char resp[256];
  int rn = snprintf(resp, sizeof resp, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", accept);
  out_append(c, resp, (size_t)rn);
  c->open = 1;
  connections++;
  memmove(c->in, c->in + hlen, c->in_len - hlen);
  c->in_len -= hlen;
  return 1;
}

static void conn_readable(size_t idx) {
  struct conn *c = conns[idx];
  if (c->closing) { conn_flush(idx); return; } /* nothing more is read once the close is sent */
  for (;;) {
    if (c->in_cap - c->in_len < 16384) {
      if (c->in_cap >= MAX_MESSAGE + 65536) { conn_close(idx); return; }
      c->in_cap = c->in_cap ? c->in_cap * 2 : 65536;
      c->in = xrealloc(c->in, c->in_cap);
    }
    ssize_t r = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
    if (r == 0) { conn_close(idx); return; }
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) break;
      conn_close(idx);
      return;
    }
    int64_t now = mono_us();
    c->in_len += (size_t)r;
    if (!c->open && !conn_handshake(idx)) return;
    if (c->open && !conn_frames(idx, now)) return;
    if (c->closing) break;
  }
  if (c->out_len) conn_flush(idx);
  else if (c->closing) conn_close(idx);
}

static void agent_accept(void) {
  for (;;) {
    int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK);
    if (fd < 0) return;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    size_t idx = 0;
    while (idx < conns_cap && conns[idx]) idx++;
    if (idx == conns_cap) {
      size_t cap = conns_cap ? conns_cap * 2 : 1024;
      conns = xrealloc(conns, cap * sizeof *conns);
      memset(conns + conns_cap, 0, (cap - conns_cap) * sizeof *conns);
      conns_cap = cap;
    }
    struct conn *c = calloc(1, sizeof *c);
    if (!c) exit(1);
    c->fd = fd;
    memcpy(c->prefix, PLAY_PREFIX, sizeof PLAY_PREFIX - 1);
    c->prefix_len = sizeof PLAY_PREFIX - 1;
    conns[idx] = c;
    ep_add(fd, EPOLLIN, TAG_CONN | idx);
  }
}

static void agent_command(char *line) {
  unsigned long win;
  if (sscanf(line, "stats %lu", &win) == 1) {
    struct window *w = window_get(win, 0);
    size_t n = w ? w->n : 0;
    double mean = 0;
    if (n) {
      qsort(w->lat, n, sizeof *w->lat, cmp_i64);
      for (size_t i = 0; i < n; i++) mean += (double)w->lat[i];
      mean /= (double)n;
    }
    printf("{\"frames\":%llu,\"connections\":%ld,\"starts\":%ld,\"stops\":%ld,\"badFrames\":%ld,\"latencyMs\":{\"p50\":",
           (unsigned long long)(w ? w->frames : 0), connections, starts, stops, bad_frames);
    print_percentile(w ? w->lat : NULL, n, 50);
    fputs(",\"p90\":", stdout);
    print_percentile(w ? w->lat : NULL, n, 90);
    fputs(",\"p99\":", stdout);
    print_percentile(w ? w->lat : NULL, n, 99);
    fputs(",\"max\":", stdout);
    print_percentile(w ? w->lat : NULL, n, 100);
    if (n) printf(",\"mean\":%.3f", mean / 1000.0); else fputs(",\"mean\":null", stdout);
    printf(",\"samples\":%zu}}\n", n);
    if (w) window_free(w);
  } else {
    printf("{\"error\":\"unknown command\"}\n");
  }
}

static void agent_event(uint64_t t, uint32_t events) {
  if (TAG_KIND(t) == TAG_CONN) {
    size_t idx = TAG_INDEX(t);
    if (idx >= conns_cap || !conns[idx]) return;
    if (events & EPOLLIN) conn_readable(idx);
    else if (events & EPOLLOUT) conn_flush(idx);
    else conn_close(idx);
  } else if (TAG_KIND(t) == TAG_LISTEN) {
    agent_accept();
  } else if (TAG_KIND(t) == TAG_STDIN) {
    read_commands(agent_command);
  }
}

static _Noreturn void run_agent(void) {
  listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (listen_fd < 0) die("socket");
  int one = 1;
  setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  if (bind(listen_fd, (struct sockaddr *)&a, sizeof a) < 0) die("bind");
  if (listen(listen_fd, 4096) < 0) die("listen");
  socklen_t al = sizeof a;
  getsockname(listen_fd, (struct sockaddr *)&a, &al);
  ep_add(listen_fd, EPOLLIN, TAG_LISTEN);
  printf("{\"port\":%u}\n", ntohs(a.sin_port));
  fflush(stdout);
  event_loop(agent_event);
}

int main(int argc, char **argv) {
  if (argc != 2 || (strcmp(argv[1], "callers") != 0 && strcmp(argv[1], "agent") != 0)) {
    fprintf(stderr, "usage: loadgen callers|agent   (commands on stdin, one JSON reply per line)\n");
    return 2;
  }
  epfd = epoll_create1(0);
  if (epfd < 0) die("epoll_create1");
  set_nonblocking(0);
  ep_add(0, EPOLLIN, TAG_STDIN);
  if (strcmp(argv[1], "callers") == 0) run_callers();
  run_agent();
}
