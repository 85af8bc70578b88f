// Model weights in safetensors files with the PyTorch parameter names, and the Hugging Face style
// export folder (model.safetensors, config.json, vocab.txt).
//
// The decoder weight is tied to the word embedding and the decoder bias to cls.predictions.bias.
// Files also carry them as "cls.predictions.decoder.weight" and "cls.predictions.decoder.bias",
// because PyTorch's state_dict lists both names; loading accepts either name of each pair.
#pragma once

#include <string>

#include "nn/model.h"

namespace fq {

// Copies every parameter from the file into the model. Checks every name and shape first and
// throws one std::invalid_argument naming the file and listing all missing names, unexpected
// names and shape mismatches, so nothing is half-loaded. F16 and BF16 tensors are converted.
// When a tied pair has both names in the file, the two tensors must be equal.
void load_weights(FlashQuadForMaskedLM& model, const std::string& safetensors_path);

// Writes every parameter plus the two decoder aliases, with metadata {"format": "pt"} (which
// Hugging Face transformers expects of PyTorch safetensors files).
void save_weights(const FlashQuadForMaskedLM& model, const std::string& path);

// Writes `out_dir`/model.safetensors and `out_dir`/config.json, and copies `vocab_path` to
// `out_dir`/vocab.txt when it is not empty. Creates out_dir (one level) when missing. Any
// source of a model (a weights file, a training checkpoint) can call this once it has built the
// model.
void export_pretrained(const FlashQuadForMaskedLM& model, const std::string& vocab_path,
                       const std::string& out_dir);

}  // namespace fq
