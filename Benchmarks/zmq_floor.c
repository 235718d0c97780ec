/* The transport's own ceiling on this machine: W worker processes (DEALER) ping-pong with one
 * ROUTER over TCP on 127.0.0.1, with ~100 and ~200 byte bodies and no work at all: no JSON, no
 * store. `sweep bench coordinator` runs the same shape of conversation with real work on both ends.
 *
 *     gcc -O2 Benchmarks/zmq_floor.c -lzmq -o /tmp/zmq_floor && /tmp/zmq_floor 16 200000
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: %s WORKERS ROUND_TRIPS\n", argv[0]); return 2; }
    int workers = atoi(argv[1]), total = atoi(argv[2]);
    const char *endpoint = "tcp://127.0.0.1:5599";
    static char result[100], assign[200];
    for (int w = 0; w < workers; w++) {
        if (fork() == 0) {
            void *context = zmq_ctx_new(), *dealer = zmq_socket(context, ZMQ_DEALER);
            zmq_connect(dealer, endpoint);
            char buffer[512];
            zmq_send(dealer, "r", 1, 0);
            while (1) {
                int size = zmq_recv(dealer, buffer, sizeof buffer, 0);
                if (size == 1 && buffer[0] == 'x') break;
                zmq_send(dealer, result, sizeof result, 0);
            }
            zmq_close(dealer);
            zmq_ctx_term(context);
            _exit(0);
        }
    }
    void *context = zmq_ctx_new(), *router = zmq_socket(context, ZMQ_ROUTER);
    zmq_bind(router, endpoint);
    char identity[64], buffer[512];
    double start = 0;
    for (int done = 0; done < total; done++) {
        int length = zmq_recv(router, identity, sizeof identity, 0);
        zmq_recv(router, buffer, sizeof buffer, 0);
        if (done == 0) start = now();
        zmq_send(router, identity, length, ZMQ_SNDMORE);
        zmq_send(router, assign, sizeof assign, 0);
    }
    printf("%d workers: %.0f round trips/s\n", workers, (total - 1) / (now() - start));
    for (int w = 0; w < workers; w++) {
        int length = zmq_recv(router, identity, sizeof identity, 0);
        zmq_recv(router, buffer, sizeof buffer, 0);
        zmq_send(router, identity, length, ZMQ_SNDMORE);
        zmq_send(router, "x", 1, 0);
    }
    while (wait(NULL) > 0) {}
    zmq_close(router);
    zmq_ctx_term(context);
    return 0;
}
