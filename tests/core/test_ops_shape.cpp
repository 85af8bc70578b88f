// Shape ops: narrow, slice_last, split_last, concat_last, transpose_last2 and expand. Gradient
// checks, values, size-1 and empty axes, and range errors.
#include <gtest/gtest.h>

#include "core/ops.h"
#include "tests/gradcheck.h"

namespace fq {
namespace {

using test::all_close;
using test::error_message;
using test::gradcheck;
using test::random_tensor;

TEST(Narrow, BackwardMatchesFiniteDifferences) {
  Tensor x = random_tensor({3, 5, 7}, 1);
  struct Case {
    int64_t axis, start, length;
  };
  for (Case c : {Case{0, 1, 2}, Case{1, 2, 3}, Case{2, 0, 7}, Case{-1, 3, 1}, Case{-2, 4, 1}}) {
    EXPECT_TRUE(gradcheck("narrow",
                          [c](const std::vector<Tensor>& in) {
                            return narrow(in[0], c.axis, c.start, c.length);
                          },
                          {x}))
        << "axis " << c.axis << " start " << c.start << " length " << c.length;
  }
}

TEST(Narrow, ValuesAndErrors) {
  Tensor x = Tensor::from_vector({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, {2, 3, 2});
  Tensor y = narrow(x, 1, 1, 2);
  EXPECT_EQ(y.shape(), (Shape{2, 2, 2}));
  EXPECT_EQ(y.to_vector(), std::vector<float>({2, 3, 4, 5, 8, 9, 10, 11}));
  EXPECT_EQ(narrow(x, 0, 2, 0).shape(), (Shape{0, 3, 2}));
  std::string msg = error_message([&] { narrow(x, 1, 2, 2); });
  EXPECT_NE(msg.find("narrow"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[2, 4)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[2, 3, 2]"), std::string::npos) << msg;
  msg = error_message([&] { narrow(x, 3, 0, 1); });
  EXPECT_NE(msg.find("axis 3"), std::string::npos) << msg;
}

TEST(SliceLast, BackwardMatchesFiniteDifferences) {
  auto f = [](const std::vector<Tensor>& in) { return slice_last(in[0], 2, 5); };
  EXPECT_TRUE(gradcheck("slice_last", f, {random_tensor({3, 7}, 1)}));
  auto one = [](const std::vector<Tensor>& in) { return slice_last(in[0], 0, 1); };
  EXPECT_TRUE(gradcheck("slice_last", one, {random_tensor({5, 1}, 2)}));
  std::string msg = error_message([] { slice_last(Tensor::zeros({3, 7}), 5, 8); });
  EXPECT_NE(msg.find("slice_last"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[3, 7]"), std::string::npos) << msg;
}

TEST(SplitLast, BackwardMatchesFiniteDifferences) {
  // Every part feeds the output (with different weights), so each part's backward is checked.
  auto f = [](const std::vector<Tensor>& in) {
    std::vector<Tensor> parts = split_last(in[0], {2, 0, 4, 1});
    return concat_last({mul_scalar(parts[2], 3.0f), parts[0], parts[3], parts[1]});
  };
  EXPECT_TRUE(gradcheck("split_last", f, {random_tensor({3, 5, 7}, 1)}));
}

TEST(SplitLast, ValuesAndSizeError) {
  Tensor x = Tensor::from_vector({0, 1, 2, 3, 4, 5, 6, 7}, {2, 4});
  std::vector<Tensor> parts = split_last(x, {1, 3});
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0].to_vector(), std::vector<float>({0, 4}));
  EXPECT_EQ(parts[1].to_vector(), std::vector<float>({1, 2, 3, 5, 6, 7}));
  std::string msg = error_message([&] { split_last(x, {1, 2}); });
  EXPECT_NE(msg.find("split_last"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[2, 4]"), std::string::npos) << msg;
}

TEST(ConcatLast, BackwardMatchesFiniteDifferences) {
  auto f = [](const std::vector<Tensor>& in) { return concat_last({in[0], in[1], in[2]}); };
  EXPECT_TRUE(gradcheck("concat_last", f,
                        {random_tensor({3, 5, 2}, 1), random_tensor({3, 5, 7}, 2),
                         random_tensor({3, 5, 1}, 3)}));
  // A constant part gets no gradient and must not disturb the others.
  test::GradcheckOptions options;
  options.constant = {false, true};
  auto two = [](const std::vector<Tensor>& in) { return concat_last({in[0], in[1]}); };
  EXPECT_TRUE(gradcheck("concat_last", two, {random_tensor({1, 3}, 4), random_tensor({1, 5}, 5)},
                        options));
}

TEST(ConcatLast, ValuesAndShapeError) {
  Tensor a = Tensor::from_vector({1, 2, 3, 4}, {2, 2});
  Tensor b = Tensor::from_vector({5, 6}, {2, 1});
  EXPECT_EQ(concat_last({a, b}).to_vector(), std::vector<float>({1, 2, 5, 3, 4, 6}));
  std::string msg = error_message([&] { concat_last({a, Tensor::zeros({3, 1})}); });
  EXPECT_NE(msg.find("concat_last"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[2, 2]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[3, 1]"), std::string::npos) << msg;
  EXPECT_THROW(concat_last({}), std::invalid_argument);
}

TEST(TransposeLast2, BackwardMatchesFiniteDifferences) {
  auto f = [](const std::vector<Tensor>& in) { return transpose_last2(in[0]); };
  EXPECT_TRUE(gradcheck("transpose_last2", f, {random_tensor({2, 3, 5}, 1)}));
  EXPECT_TRUE(gradcheck("transpose_last2", f, {random_tensor({1, 7}, 2)}));
  EXPECT_TRUE(gradcheck("transpose_last2", f, {random_tensor({3, 1, 1}, 3)}));
}

TEST(TransposeLast2, MatchesNaiveTransposeAcrossTiles) {
  // 70 x 45 spans several 32 x 32 tiles with partial edges.
  Tensor x = random_tensor({2, 70, 45}, 4);
  Tensor y = transpose_last2(x);
  ASSERT_EQ(y.shape(), (Shape{2, 45, 70}));
  for (int64_t b = 0; b < 2; ++b) {
    for (int64_t i = 0; i < 70; ++i) {
      for (int64_t j = 0; j < 45; ++j) {
        ASSERT_EQ(y.data()[(b * 45 + j) * 70 + i], x.data()[(b * 70 + i) * 45 + j])
            << "b " << b << " i " << i << " j " << j;
      }
    }
  }
  std::string msg = error_message([] { transpose_last2(Tensor::zeros({4})); });
  EXPECT_NE(msg.find("transpose_last2"), std::string::npos) << msg;
}

TEST(Expand, BackwardMatchesFiniteDifferences) {
  struct Case {
    Shape from, to;
  };
  for (const Case& c : {Case{{3, 1}, {2, 3, 4}}, Case{{}, {3}}, Case{{5}, {5}},
                        Case{{1, 5}, {3, 5}}, Case{{2, 1, 3}, {2, 4, 3}}}) {
    Shape to = c.to;
    EXPECT_TRUE(gradcheck("expand",
                          [to](const std::vector<Tensor>& in) { return expand(in[0], to); },
                          {random_tensor(c.from, 1)}))
        << shape_str(c.from) << " -> " << shape_str(c.to);
  }
}

TEST(Expand, ValuesAndErrors) {
  Tensor x = Tensor::from_vector({1, 2}, {2, 1});
  EXPECT_EQ(expand(x, {2, 3}).to_vector(), std::vector<float>({1, 1, 1, 2, 2, 2}));
  EXPECT_EQ(expand(x, {0, 2, 3}).numel(), 0);
  std::string msg = error_message([&] { expand(x, {3, 3}); });
  EXPECT_NE(msg.find("expand"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[2, 1]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[3, 3]"), std::string::npos) << msg;
  msg = error_message([&] { expand(x, {2}); });
  EXPECT_NE(msg.find("expand"), std::string::npos) << msg;
}

}  // namespace
}  // namespace fq
