#include "core/parallel.h"

#include <thread>

#ifdef _OPENMP
#include <omp.h>
#endif

#include <unistd.h>

#include <cstdlib>
#include <cstring>

extern "C" void openblas_set_num_threads(int num_threads);
extern "C" char* openblas_get_corename(void);

namespace fq {

namespace {
int g_threads = 0;
}

void set_num_threads(int n) {
  if (n <= 0) {
    unsigned hw = std::thread::hardware_concurrency();
    n = hw == 0 ? 1 : static_cast<int>(hw);
  }
  g_threads = n;
#ifdef _OPENMP
  omp_set_num_threads(n);
#endif
  openblas_set_num_threads(n);
}

int num_threads() {
  if (g_threads == 0) set_num_threads(0);
  return g_threads;
}

const char* blas_core_name() { return openblas_get_corename(); }

void ensure_blas_kernels(char** argv) {
  bool changed = false;

  // 1. OpenBLAS kernels: only when detection failed and the user made no choice.
  const char* core = openblas_get_corename();
  if (std::getenv("OPENBLAS_CORETYPE") == nullptr && core != nullptr &&
      std::strcmp(core, "Prescott") == 0) {
    const char* wanted = nullptr;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl")) {
      wanted = "SkylakeX";
    } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
      wanted = "Haswell";
    }
    if (wanted != nullptr) {
      setenv("OPENBLAS_CORETYPE", wanted, 1);
      changed = true;
    }
  }

  // 2. OpenMP wait policy: idle threads sleep instead of spinning, unless the user chose.
  if (std::getenv("OMP_WAIT_POLICY") == nullptr && std::getenv("GOMP_SPINCOUNT") == nullptr) {
    setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    changed = true;
  }

  if (!changed) return;
  execv("/proc/self/exe", argv);
  // Exec failed (no /proc, say): keep running with the settings the process started with.
}

}  // namespace fq
