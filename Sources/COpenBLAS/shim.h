#ifndef SWEEP_COPENBLAS_SHIM_H
#define SWEEP_COPENBLAS_SHIM_H
/* Debian's libopenblas-dev installs cblas.h under /usr/include/<multiarch>/ (an alternatives link
   to the OpenBLAS flavour in use), which is on the compiler's default include path. */
#include <cblas.h>

/* LAPACK's Cholesky routines, which libopenblas exports (Debian ships no lapack.h with it).
   Column-major; `uplo` "L" for the lower triangle; `info` 0 on success, > 0 when the matrix is
   not positive definite. */
void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info);
void dpotrs_(const char *uplo, const int *n, const int *nrhs, const double *a, const int *lda, double *b, const int *ldb, int *info);
void dpotri_(const char *uplo, const int *n, double *a, const int *lda, int *info);
#endif
