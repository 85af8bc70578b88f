// Thread control for OpenMP kernels and OpenBLAS. OpenBLAS is the OpenMP build
// (libopenblas-openmp-dev), so both use one pool and one thread count.
#pragma once

namespace fq {

// Sets the thread count of OpenMP loops and OpenBLAS; n <= 0 means all cores.
void set_num_threads(int n);
int num_threads();

// OpenBLAS 0.3.21 (Debian 12) does not recognise some recent Xeon CPUs and falls back to its
// generic "Prescott" kernels, several times slower than the AVX2 or AVX-512 ones (a 1024^3
// sgemm on one Sapphire Rapids core: 33 GFLOP/s as Prescott, 154 as SkylakeX). OpenBLAS reads
// its kernel choice from OPENBLAS_CORETYPE only while loading, so when detection failed and the
// variable is unset, this sets it from the CPU's features and re-executes the program with the
// same arguments. Returns normally when nothing needs to change or the re-exec fails.
void ensure_blas_kernels(char** argv);

// The OpenBLAS kernel family in use, e.g. "SkylakeX".
const char* blas_core_name();

}  // namespace fq
