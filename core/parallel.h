// Thread control for OpenMP kernels and OpenBLAS. OpenBLAS is the OpenMP build
// (libopenblas-openmp-dev), so both use one pool and one thread count.
#pragma once

namespace fq {

// Sets the thread count of OpenMP loops and OpenBLAS; n <= 0 means all cores.
void set_num_threads(int n);
int num_threads();

// Fixes two runtime settings that are read only while the libraries load, by setting the
// environment variable and re-executing the program with the same arguments:
// - OpenBLAS 0.3.21 (Debian 12) does not recognise some recent Xeon CPUs and falls back to its
//   generic "Prescott" kernels, several times slower than the AVX2 or AVX-512 ones (a 1024^3
//   sgemm on one Sapphire Rapids core: 33 GFLOP/s as Prescott, 154 as SkylakeX). When detection
//   failed and OPENBLAS_CORETYPE is unset, it is set from the CPU's features.
// - libgomp's idle threads spin between parallel regions by default. When the cores are shared
//   with other processes, the spinning thread takes the core the working thread needs: tiny
//   training on 2 threads with a load average near 3 ran 8x slower with spinning than with
//   OMP_WAIT_POLICY=PASSIVE, which is set when neither it nor GOMP_SPINCOUNT is set.
// Returns normally when nothing needs to change or the re-exec fails.
void ensure_blas_kernels(char** argv);

// The OpenBLAS kernel family in use, e.g. "SkylakeX".
const char* blas_core_name();

}  // namespace fq
