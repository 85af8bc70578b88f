// safetensors reading and writing: round trips, half and bfloat16 decoding, and a clear error
// naming the file for every kind of damaged file.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/safetensors.h"

namespace fq {
namespace {

class Safetensors : public testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/fq_safetensors_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    for (const std::string& f : files_) std::remove(f.c_str());
    rmdir(dir_.c_str());
  }
  std::string path(const std::string& name) {
    files_.push_back(dir_ + "/" + name);
    return files_.back();
  }
  // Writes an 8-byte length, the header text and `data` as a raw file.
  std::string write_raw(const std::string& name, const std::string& header,
                        const std::vector<unsigned char>& data, int64_t length_override = -1) {
    std::string p = path(name);
    std::ofstream out(p, std::ios::binary);
    uint64_t n = length_override >= 0 ? static_cast<uint64_t>(length_override) : header.size();
    for (int i = 0; i < 8; ++i) out.put(static_cast<char>((n >> (8 * i)) & 0xFF));
    out << header;
    out.write(reinterpret_cast<const char*>(data.data()),
              static_cast<std::streamsize>(data.size()));
    return p;
  }
  // Returns the std::invalid_argument message of reading `p`, or "" when it reads.
  std::string read_error(const std::string& p) {
    try {
      read_safetensors(p);
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
    return "";
  }

  std::string dir_;
  std::vector<std::string> files_;
};

TEST_F(Safetensors, RoundTripKeepsValuesOrderAndMetadata) {
  Tensor a = Tensor::from_vector({1.5f, -2.25f, 3e-20f, 1e30f, -0.0f, 7.0f}, {2, 3});
  Tensor b = Tensor::from_ids({-100, 0, 2147483647}, {3});
  Tensor c = Tensor::scalar(0.125f);
  std::string p = path("round.safetensors");
  write_safetensors(p, {{"z.first", a}, {"a.second", b}, {"m.scalar", c}}, {{"format", "pt"}});

  SafetensorsFile f = read_safetensors(p);
  ASSERT_EQ(f.names.size(), 3u);
  EXPECT_EQ(f.names[0], "z.first");
  EXPECT_EQ(f.names[1], "a.second");
  EXPECT_EQ(f.names[2], "m.scalar");
  EXPECT_EQ(f.metadata.at("format"), "pt");
  EXPECT_EQ(f.file_dtypes.at("a.second"), "I32");
  ASSERT_EQ(f.at("z.first").shape(), (Shape{2, 3}));
  std::vector<float> av = a.to_vector(), rv = f.at("z.first").to_vector();
  for (size_t i = 0; i < av.size(); ++i) {
    EXPECT_EQ(std::memcmp(&av[i], &rv[i], 4), 0)
        << "element " << i << ": " << av[i] << " vs " << rv[i];
  }
  EXPECT_EQ(f.at("a.second").to_ids(), b.to_ids());
  EXPECT_TRUE(f.at("m.scalar").shape().empty());
  EXPECT_EQ(f.at("m.scalar").item(), 0.125f);
}

TEST_F(Safetensors, HeaderIsPaddedToEightBytes) {
  std::string p = path("pad.safetensors");
  write_safetensors(p, {{"x", Tensor::from_vector({1, 2, 3}, {3})}});
  std::ifstream in(p, std::ios::binary);
  unsigned char len[8];
  in.read(reinterpret_cast<char*>(len), 8);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | len[i];
  EXPECT_EQ(n % 8, 0u) << "header length " << n;
  in.seekg(0, std::ios::end);
  EXPECT_EQ(static_cast<uint64_t>(in.tellg()), 8 + n + 12);
}

TEST_F(Safetensors, MissingTensorNameIsReported) {
  std::string p = path("one.safetensors");
  write_safetensors(p, {{"x", Tensor::from_vector({1}, {1})}});
  SafetensorsFile f = read_safetensors(p);
  EXPECT_TRUE(f.contains("x"));
  EXPECT_FALSE(f.contains("y"));
  try {
    f.at("y");
    FAIL() << "expected an error for a missing name";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("\"y\""), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
  }
}

TEST_F(Safetensors, HalfValuesDecodeExactly) {
  // 1.0, -2.0, 65504 (max), 2^-24 (smallest subnormal), 2^-14 (smallest normal), -0, inf.
  const uint16_t bits[] = {0x3C00, 0xC000, 0x7BFF, 0x0001, 0x0400, 0x8000, 0x7C00, 0x0155};
  const float expected[] = {1.0f,
                            -2.0f,
                            65504.0f,
                            std::ldexp(1.0f, -24),
                            std::ldexp(1.0f, -14),
                            -0.0f,
                            INFINITY,
                            341.0f * std::ldexp(1.0f, -24)};
  for (size_t i = 0; i < 8; ++i) {
    float got = half_to_float(bits[i]);
    EXPECT_EQ(std::memcmp(&got, &expected[i], 4), 0)
        << "half 0x" << std::hex << bits[i] << std::dec << ": " << got << " vs " << expected[i];
  }
  EXPECT_TRUE(std::isnan(half_to_float(0x7E00)));
}

TEST_F(Safetensors, ReadsF16AndBF16AsFloat) {
  // F16 [2] = {1.5, -0.25}; BF16 [2] = {1.0, -3.0}.
  std::vector<unsigned char> data = {0x00, 0x3E, 0x00, 0xB4, 0x80, 0x3F, 0x40, 0xC0};
  std::string header = R"({"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},)"
                       R"("b":{"dtype":"BF16","shape":[2],"data_offsets":[4,8]}})";
  SafetensorsFile f = read_safetensors(write_raw("half.safetensors", header, data));
  EXPECT_EQ(f.at("h").to_vector(), (std::vector<float>{1.5f, -0.25f}));
  EXPECT_EQ(f.at("b").to_vector(), (std::vector<float>{1.0f, -3.0f}));
  EXPECT_EQ(f.file_dtypes.at("h"), "F16");
  EXPECT_EQ(f.file_dtypes.at("b"), "BF16");
}

TEST_F(Safetensors, DamagedFilesGiveClearErrors) {
  const std::vector<unsigned char> eight(8, 0);
  const std::string ok_entry = R"("x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  struct Case {
    std::string name;
    std::string header;
    std::vector<unsigned char> data;
    int64_t length_override;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"short_length", "", {}, -2, "fewer than the 8-byte header length"},
      {"length_past_end", "{}", {}, 4000, "runs past the end"},
      {"huge_length", "{}", {}, int64_t(1) << 40, "implausible"},
      {"bad_json", "{\"x\": [", eight, -1, "not valid JSON"},
      {"not_object", "[1, 2]", eight, -1, "must be a JSON object"},
      {"truncated_data", "{" + ok_entry + "}", {0, 0, 0}, -1, "run past the data section"},
      {"missing_dtype", R"({"x":{"shape":[2],"data_offsets":[0,8]}})", eight, -1,
       "missing or non-string dtype"},
      {"unsupported_dtype", R"({"x":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}})", eight, -1,
       "unsupported dtype \"F64\""},
      {"negative_dim", R"({"x":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", eight, -1,
       "non-negative integers"},
      {"size_mismatch", R"({"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", eight, -1,
       "needs 12 bytes"},
      {"begin_after_end", R"({"x":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}})", eight, -1,
       "begin after end"},
      {"bad_offsets", R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", eight, -1,
       "data_offsets must be two"},
      {"overlap",
       R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
       R"("y":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
       eight, -1, "overlaps"},
      {"duplicate",
       R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
       R"("x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
       eight, -1, "names \"x\" twice"},
      {"metadata_not_string", R"({"__metadata__":{"format":3}})", {}, -1, "must be a string"},
      {"entry_not_object", R"({"x":[1,2]})", {}, -1, "expected an object"},
  };
  for (const Case& c : cases) {
    std::string p;
    if (c.length_override == -2) {
      p = path(c.name);
      std::ofstream(p, std::ios::binary) << "abc";
    } else {
      p = write_raw(c.name, c.header, c.data, c.length_override);
    }
    std::string msg = read_error(p);
    EXPECT_NE(msg.find(c.expected), std::string::npos)
        << c.name << ": expected '" << c.expected << "' in '" << msg << "'";
    EXPECT_NE(msg.find(p), std::string::npos)
        << c.name << ": message does not name the file: " << msg;
  }
}

TEST_F(Safetensors, MissingFileNamesPath) {
  std::string p = dir_ + "/does_not_exist.safetensors";
  std::string msg = read_error(p);
  EXPECT_NE(msg.find(p), std::string::npos) << msg;
  EXPECT_NE(msg.find("cannot open"), std::string::npos) << msg;
}

TEST_F(Safetensors, WriteRejectsBadInput) {
  std::string p = path("bad_write.safetensors");
  Tensor x = Tensor::from_vector({1}, {1});
  EXPECT_THROW(write_safetensors(p, {{"x", x}, {"x", x}}), std::invalid_argument);
  EXPECT_THROW(write_safetensors(p, {{"", x}}), std::invalid_argument);
  EXPECT_THROW(write_safetensors(p, {{"__metadata__", x}}), std::invalid_argument);
  EXPECT_THROW(write_safetensors(p, {{"u", Tensor()}}), std::invalid_argument);
  EXPECT_THROW(write_safetensors(dir_ + "/no/such/dir/x.safetensors", {{"x", x}}),
               std::invalid_argument);
}

}  // namespace
}  // namespace fq
