#ifndef SWEEP_CZMQ_SHIM_H
#define SWEEP_CZMQ_SHIM_H
#include <zmq.h>
#endif
