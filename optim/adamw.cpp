#include "optim/adamw.h"

#include <cmath>
#include <set>

#include "core/check.h"

namespace fq {

namespace {

// Below this many elements a parameter is updated on one thread (thread start-up would cost
// more than the loop).
constexpr int64_t kParallelMin = 32768;

// torch 1.13 CPU kernels, float32, per element. Each scalar argument was rounded to float once.
// NOTE: the FMAs follow the vectorized add-with-alpha kernel. With them the results equal
// PyTorch's bit for bit on the reference fixture except one element, which is one ulp off.
inline void update_moments(float& m, float& v, float g, float b1, float one_minus_b1, float b2,
                           float one_minus_b2) {
  m = std::fma(g, one_minus_b1, m * b1);  // exp_avg.mul_(b1).add_(g, alpha=1-b1)
  v = v * b2 + one_minus_b2 * g * g;      // exp_avg_sq.mul_(b2).addcmul_(g, g, 1-b2)
}

void step_torch(float* p, float* m, float* v, const float* g, int64_t n, double lr, double wd,
                double beta1, double beta2, double eps, int64_t t) {
  const float decay_factor = static_cast<float>(1.0 - lr * wd);
  const float b1 = static_cast<float>(beta1), one_minus_b1 = static_cast<float>(1.0 - beta1);
  const float b2 = static_cast<float>(beta2), one_minus_b2 = static_cast<float>(1.0 - beta2);
  const double bias_correction1 = 1.0 - std::pow(beta1, static_cast<double>(t));
  const double bias_correction2 = 1.0 - std::pow(beta2, static_cast<double>(t));
  const float neg_step_size = static_cast<float>(-(lr / bias_correction1));
  const float bias_correction2_sqrt = static_cast<float>(std::sqrt(bias_correction2));
  const float eps_f = static_cast<float>(eps);

  // Each iteration touches only element i of p, m and v, so the loop is race-free.
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    float decayed = p[i] * decay_factor;  // param.mul_(1 - lr*wd)
    update_moments(m[i], v[i], g[i], b1, one_minus_b1, b2, one_minus_b2);
    float denom = std::sqrt(v[i]) / bias_correction2_sqrt + eps_f;
    p[i] = decayed + neg_step_size * m[i] / denom;  // param.addcdiv_(m, denom, value=-step_size)
  }
}

void step_hf(float* p, float* m, float* v, const float* g, int64_t n, double lr, double wd,
             double beta1, double beta2, double eps, int64_t t) {
  const float b1 = static_cast<float>(beta1), one_minus_b1 = static_cast<float>(1.0 - beta1);
  const float b2 = static_cast<float>(beta2), one_minus_b2 = static_cast<float>(1.0 - beta2);
  const double bias_correction1 = 1.0 - std::pow(beta1, static_cast<double>(t));
  const double bias_correction2 = 1.0 - std::pow(beta2, static_cast<double>(t));
  const float neg_step_size =
      static_cast<float>(-(lr * std::sqrt(bias_correction2) / bias_correction1));
  const float eps_f = static_cast<float>(eps);
  const bool apply_decay = wd > 0.0;
  const float neg_decay = static_cast<float>(-lr * wd);

  // Each iteration touches only element i of p, m and v, so the loop is race-free.
#pragma omp parallel for schedule(static) if (n >= kParallelMin)
  for (int64_t i = 0; i < n; ++i) {
    update_moments(m[i], v[i], g[i], b1, one_minus_b1, b2, one_minus_b2);
    float denom = std::sqrt(v[i]) + eps_f;
    float updated = p[i] + neg_step_size * m[i] / denom;
    if (apply_decay) updated = std::fma(updated, neg_decay, updated);  // p.add_(p, alpha=-lr*wd)
    p[i] = updated;
  }
}

}  // namespace

AdamWVariant parse_adamw_variant(const std::string& name) {
  if (name == "adamw_torch") return AdamWVariant::Torch;
  if (name == "adamw_hf") return AdamWVariant::HuggingFace;
  FQ_CHECK(false,
           "AdamW: unknown optim \"" << name << "\"; expected \"adamw_torch\" or \"adamw_hf\"");
  return AdamWVariant::Torch;
}

const char* adamw_variant_name(AdamWVariant variant) {
  return variant == AdamWVariant::Torch ? "adamw_torch" : "adamw_hf";
}

AdamW::AdamW(std::vector<NamedParameter> params, const AdamWOptions& options)
    : params_(std::move(params)), options_(options) {
  FQ_CHECK(options_.beta1 >= 0.0 && options_.beta1 < 1.0,
           "AdamW: beta1 must be in [0, 1), got " << options_.beta1);
  FQ_CHECK(options_.beta2 >= 0.0 && options_.beta2 < 1.0,
           "AdamW: beta2 must be in [0, 1), got " << options_.beta2);
  FQ_CHECK(options_.eps >= 0.0, "AdamW: eps must be >= 0, got " << options_.eps);
  FQ_CHECK(options_.weight_decay >= 0.0,
           "AdamW: weight_decay must be >= 0, got " << options_.weight_decay);

  std::set<std::string> names;
  for (size_t i = 0; i < params_.size(); ++i) {
    const NamedParameter& param = params_[i];
    FQ_CHECK(param.tensor.defined(), "AdamW: parameter \"" << param.name << "\" is undefined");
    FQ_CHECK(param.tensor.is_float(), "AdamW: parameter \"" << param.name << "\" has dtype "
                                                            << dtype_name(param.tensor.dtype())
                                                            << ", expected F32");
    FQ_CHECK(names.insert(param.name).second,
             "AdamW: parameter name \"" << param.name << "\" is listed twice");
    for (size_t j = 0; j < i; ++j) {
      FQ_CHECK(!params_[j].tensor.shares_storage(param.tensor),
               "AdamW: parameters \"" << params_[j].name << "\" and \"" << param.name
                                      << "\" share storage; list a tied weight once so it is "
                                         "updated and decayed once");
    }
  }

  state_.params.reserve(params_.size());
  decay_.reserve(params_.size());
  for (const NamedParameter& param : params_) {
    AdamWParamState s;
    s.name = param.name;
    s.shape = param.tensor.shape();
    s.exp_avg.assign(static_cast<size_t>(param.tensor.numel()), 0.0f);
    s.exp_avg_sq.assign(static_cast<size_t>(param.tensor.numel()), 0.0f);
    state_.params.push_back(std::move(s));
    decay_.push_back(decays(param.name));
  }
}

bool AdamW::decays(const std::string& name) const {
  for (const std::string& pattern : options_.no_decay) {
    if (name.find(pattern) != std::string::npos) return false;
  }
  return true;
}

void AdamW::step(double lr) {
  FQ_CHECK(std::isfinite(lr) && lr >= 0.0,
           "AdamW::step: learning rate must be finite and >= 0, got " << lr);
  state_.step_count += 1;
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor& tensor = params_[i].tensor;
    Tensor grad = tensor.grad();
    if (!grad.defined()) continue;
    FQ_INTERNAL(grad.numel() == tensor.numel(),
                "AdamW: gradient of \"" << params_[i].name << "\" has the wrong size");
    AdamWParamState& s = state_.params[i];
    s.step += 1;
    const double wd = decay_[i] ? options_.weight_decay : 0.0;
    if (options_.variant == AdamWVariant::Torch) {
      step_torch(tensor.data(), s.exp_avg.data(), s.exp_avg_sq.data(), grad.data(), tensor.numel(),
                 lr, wd, options_.beta1, options_.beta2, options_.eps, s.step);
    } else {
      step_hf(tensor.data(), s.exp_avg.data(), s.exp_avg_sq.data(), grad.data(), tensor.numel(), lr,
              wd, options_.beta1, options_.beta2, options_.eps, s.step);
    }
  }
}

void AdamW::zero_grad(bool set_to_none) { fq::zero_grad(params_, set_to_none); }

void AdamW::load_state(const AdamWState& state) {
  FQ_CHECK(state.step_count >= 0, "AdamW::load_state: negative step count " << state.step_count);
  FQ_CHECK(state.params.size() == params_.size(),
           "AdamW::load_state: state has " << state.params.size() << " parameters, optimizer has "
                                           << params_.size());
  for (size_t i = 0; i < params_.size(); ++i) {
    const AdamWParamState& s = state.params[i];
    const NamedParameter& param = params_[i];
    FQ_CHECK(s.name == param.name, "AdamW::load_state: parameter "
                                       << i << " is \"" << s.name << "\" in the state, \""
                                       << param.name << "\" in the optimizer");
    FQ_CHECK(s.shape == param.tensor.shape(),
             "AdamW::load_state: \"" << s.name << "\" has shape " << shape_str(s.shape)
                                     << " in the state, " << shape_str(param.tensor.shape())
                                     << " in the optimizer");
    const size_t n = static_cast<size_t>(param.tensor.numel());
    FQ_CHECK(s.exp_avg.size() == n && s.exp_avg_sq.size() == n,
             "AdamW::load_state: \"" << s.name << "\" has " << s.exp_avg.size() << " and "
                                     << s.exp_avg_sq.size() << " moment values, expected " << n);
    FQ_CHECK(s.step >= 0 && s.step <= state.step_count,
             "AdamW::load_state: \"" << s.name << "\" has step " << s.step << ", expected 0.."
                                     << state.step_count);
  }
  state_ = state;
}

void zero_grad(const std::vector<NamedParameter>& params, bool set_to_none) {
  for (const NamedParameter& param : params) {
    Tensor tensor = param.tensor;
    if (set_to_none) {
      tensor.set_grad(Tensor());
    } else {
      tensor.zero_grad();
    }
  }
}

}  // namespace fq
