// Test entry point: GoogleTest with a closing "N passed, M failed" line for CI logs.
#include <gtest/gtest.h>

#include <cstdio>

#include "core/parallel.h"

namespace {

class SummaryListener : public testing::EmptyTestEventListener {
  void OnTestProgramEnd(const testing::UnitTest& unit) override {
    std::printf("tests: %d passed, %d failed, %d skipped\n", unit.successful_test_count(),
                unit.failed_test_count(), unit.skipped_test_count());
  }
};

}  // namespace

int main(int argc, char** argv) {
  fq::ensure_blas_kernels(argv);
  testing::InitGoogleTest(&argc, argv);
  testing::UnitTest::GetInstance()->listeners().Append(new SummaryListener);
  fq::set_num_threads(0);
  return RUN_ALL_TESTS();
}
