// One masked-LM micro-batch, as the data pipeline hands it to the model.
#pragma once

#include <cstdint>

#include "core/tensor.h"

namespace fq {

struct Batch {
  Tensor input_ids;       // I32 (B, T): [CLS] tokens... [SEP] [PAD]..., with masking applied
  Tensor attention_mask;  // I32 (B, T): 1 for real tokens, 0 for padding
  Tensor token_type_ids;  // I32 (B, T): all 0 for pretraining
  Tensor labels;          // I32 (B, T): original id at masked targets, -100 elsewhere
  int64_t num_targets = 0;  // count of labels != -100
};

}  // namespace fq
