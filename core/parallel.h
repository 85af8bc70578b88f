// Thread control for OpenMP kernels and OpenBLAS. OpenBLAS is the OpenMP build
// (libopenblas-openmp-dev), so both use one pool and one thread count.
#pragma once

namespace fq {

// Sets the thread count of OpenMP loops and OpenBLAS; n <= 0 means all cores.
void set_num_threads(int n);
int num_threads();

}  // namespace fq
