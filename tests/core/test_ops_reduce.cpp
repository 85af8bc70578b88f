// Reductions: gradient checks, values, empty-axis handling and thread-count independence.
#include <gtest/gtest.h>

#include "core/ops.h"
#include "core/parallel.h"
#include "tests/gradcheck.h"

namespace fq {
namespace {

using test::all_close;
using test::error_message;
using test::gradcheck;
using test::random_tensor;
using test::same_bytes;

TEST(SumLast, BackwardMatchesFiniteDifferences) {
  auto f = [](const std::vector<Tensor>& in) { return sum_last(in[0]); };
  EXPECT_TRUE(gradcheck("sum_last", f, {random_tensor({3, 5, 7}, 1)}));
  EXPECT_TRUE(gradcheck("sum_last", f, {random_tensor({5, 1}, 2)}));
  EXPECT_TRUE(gradcheck("sum_last", f, {random_tensor({11}, 3)}));
}

TEST(MeanLast, BackwardMatchesFiniteDifferences) {
  auto f = [](const std::vector<Tensor>& in) { return mean_last(in[0]); };
  EXPECT_TRUE(gradcheck("mean_last", f, {random_tensor({3, 5, 7}, 1)}));
  EXPECT_TRUE(gradcheck("mean_last", f, {random_tensor({1, 13}, 2)}));
}

TEST(SumAll, BackwardMatchesFiniteDifferences) {
  auto f = [](const std::vector<Tensor>& in) { return sum_all(in[0]); };
  EXPECT_TRUE(gradcheck("sum_all", f, {random_tensor({3, 5}, 1)}));
  EXPECT_TRUE(gradcheck("sum_all", f, {random_tensor({1}, 2)}));
}

TEST(MeanAll, BackwardMatchesFiniteDifferences) {
  auto f = [](const std::vector<Tensor>& in) { return mean_all(in[0]); };
  EXPECT_TRUE(gradcheck("mean_all", f, {random_tensor({3, 5, 2}, 1)}));
  EXPECT_TRUE(gradcheck("mean_all", f, {random_tensor({1, 1}, 2)}));
}

TEST(SumLast, ValuesAndShape) {
  Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor s = sum_last(x);
  EXPECT_EQ(s.shape(), (Shape{2, 1}));
  EXPECT_EQ(s.to_vector(), std::vector<float>({6, 15}));
  Tensor m = mean_last(x);
  EXPECT_EQ(m.shape(), (Shape{2, 1}));
  EXPECT_EQ(m.to_vector(), std::vector<float>({2, 5}));
  EXPECT_EQ(sum_all(x).shape(), Shape{});
  EXPECT_EQ(sum_all(x).item(), 21.0f);
  EXPECT_EQ(mean_all(x).item(), 3.5f);
}

TEST(SumAll, AccumulatesInDouble) {
  // 2^24 + 1 + 1 + ... is lost entirely by a float accumulator.
  const int64_t n = 100001;
  std::vector<float> v(n, 1.0f);
  v[0] = 16777216.0f;
  Tensor x = Tensor::from_vector(v, {n});
  EXPECT_EQ(sum_all(x).item(), 16877216.0f);
}

TEST(SumLast, EmptyAxisGivesZeroAndMeanThrows) {
  Tensor x = Tensor::zeros({3, 0});
  EXPECT_EQ(sum_last(x).to_vector(), std::vector<float>({0, 0, 0}));
  EXPECT_EQ(sum_all(x).item(), 0.0f);
  std::string msg = error_message([&] { mean_last(x); });
  EXPECT_NE(msg.find("mean_last"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[3, 0]"), std::string::npos) << msg;
  msg = error_message([&] { mean_all(x); });
  EXPECT_NE(msg.find("mean_all"), std::string::npos) << msg;
}

TEST(SumAll, SameBitsForAnyThreadCount) {
  Tensor x = random_tensor({300, 257}, 5);
  set_num_threads(2);
  Tensor a = sum_all(x);
  Tensor b = sum_all(x);
  Tensor rows_a = sum_last(x);
  set_num_threads(1);
  Tensor c = sum_all(x);
  Tensor rows_c = sum_last(x);
  set_num_threads(0);
  EXPECT_TRUE(same_bytes(a, b));
  EXPECT_TRUE(same_bytes(a, c));
  EXPECT_TRUE(same_bytes(rows_a, rows_c));
}

}  // namespace
}  // namespace fq
