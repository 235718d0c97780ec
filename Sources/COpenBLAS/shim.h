#ifndef SWEEP_COPENBLAS_SHIM_H
#define SWEEP_COPENBLAS_SHIM_H
/* Debian's libopenblas-dev installs cblas.h under /usr/include/<multiarch>/ (an alternatives link
   to the OpenBLAS flavour in use), which is on the compiler's default include path. */
#include <cblas.h>
#endif
