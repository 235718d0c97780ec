#ifndef SWEEP_CZMQ_SHIM_H
#define SWEEP_CZMQ_SHIM_H
#include <zmq.h>
/* epoll over sockets' ZMQ_FD descriptors, for a process holding thousands of sockets
   (the draft zmq_poller API is not in distributions' builds). */
#include <sys/epoll.h>
#endif
