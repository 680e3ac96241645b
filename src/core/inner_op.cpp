// inner_op.cpp — InnerOp: the catalog by name, epilogues, parameters, descriptions.
#include "fastconv/inner_op.hpp"

#include <cmath>
#include <sstream>

#include "fastconv/error.hpp"

namespace fastconv {

namespace detail::catalog {
#define FASTCONV_CATALOG_OP(name, type) InnerOp name();
#include "kernels/custom_ops/catalog_ops.inc"
#undef FASTCONV_CATALOG_OP
}  // namespace detail::catalog

namespace {

[[noreturn]] void fail(const std::string& message) { throw Error(ErrorKind::invalid_argument, message); }

struct EpilogueEntry {
  const char* name;
  EpilogueKind kind;
  int params;
  const char* params_doc;
};
constexpr EpilogueEntry kEpilogues[] = {{"bias", EpilogueKind::bias, 0, ""},
                                        {"relu", EpilogueKind::relu, 0, ""},
                                        {"gaussian", EpilogueKind::gaussian, 1, " {gamma}"},
                                        {"polynomial", EpilogueKind::polynomial, 2, " {c, p}"},
                                        {"op", EpilogueKind::op, 0, ""}};

const char* epilogue_name(EpilogueKind kind) {
  for (const EpilogueEntry& entry : kEpilogues)
    if (entry.kind == kind) return entry.name;
  return "?";
}

std::string number(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

}  // namespace

const char* reduce_name(Reduce reduce) {
  switch (reduce) {
    case Reduce::sum: return "sum";
    case Reduce::max: return "max";
    case Reduce::min: return "min";
    case Reduce::logsumexp: return "logsumexp";
  }
  return "?";
}

InnerOp::InnerOp() : InnerOp(detail::catalog::mul_sum()) {}

InnerOp::InnerOp(const custom::OpTable& table)
    : table_(&table), derivatives_(&table), params_(std::size_t(table.param_count), 0.0) {
  if (table.has_epilogue) epilogue_ = EpilogueKind::op;
}

InnerOp InnerOp::catalog(std::string_view name) {
#define FASTCONV_CATALOG_OP(entry, type) \
  if (name == #entry) return detail::catalog::entry();
#include "kernels/custom_ops/catalog_ops.inc"
#undef FASTCONV_CATALOG_OP
  std::string names;
  for (const std::string& known : catalog_names()) names += (names.empty() ? "" : ", ") + known;
  fail("InnerOp::catalog: no operation '" + std::string(name) + "'; the catalog has " + names);
}

std::vector<std::string> InnerOp::catalog_names() {
  return {
#define FASTCONV_CATALOG_OP(entry, type) #entry,
#include "kernels/custom_ops/catalog_ops.inc"
#undef FASTCONV_CATALOG_OP
  };
}

InnerOp& InnerOp::pad_value(double value) {
  pad_value_ = value;
  return *this;
}

InnerOp& InnerOp::params(std::span<const double> values) {
  if (int(values.size()) != table_->param_count) {
    fail(std::string("InnerOp::params: ") + table_->name + " takes " + std::to_string(table_->param_count) +
         " parameters, got " + std::to_string(values.size()));
  }
  params_.assign(values.begin(), values.end());
  return *this;
}

InnerOp& InnerOp::epilogue(std::string_view name, std::initializer_list<double> params) {
  for (const EpilogueEntry& entry : kEpilogues) {
    if (name != entry.name) continue;
    if (int(params.size()) != entry.params) {
      fail(std::string("InnerOp::epilogue: '") + entry.name + "' takes " + std::to_string(entry.params) +
           " parameters" + entry.params_doc + ", got " + std::to_string(params.size()));
    }
    if (entry.kind == EpilogueKind::op && !table_->has_epilogue)
      fail(std::string("InnerOp::epilogue: ") + table_->name + " has no epilogue of its own");
    epilogue_ = entry.kind;
    epilogue_params_.assign(params.begin(), params.end());
    return *this;
  }
  fail("InnerOp::epilogue: unknown epilogue '" + std::string(name) +
       "'; expected bias, relu, gaussian {gamma}, polynomial {c, p} or op");
}

InnerOp& InnerOp::derivatives_from(const InnerOp& donor) {
  if (reduce() == Reduce::logsumexp)
    fail(std::string("InnerOp::derivatives_from: ") + table_->name +
         " reduces with logsumexp, whose gradient weighs each term by its own combine");
  if (donor.reduce() != reduce()) {
    fail(std::string("InnerOp::derivatives_from: ") + donor.table_->name + " reduces with " +
         reduce_name(donor.reduce()) + ", " + table_->name + " with " + reduce_name(reduce()));
  }
  derivatives_ = donor.derivatives_;
  return *this;
}

bool InnerOp::is_convolution() const {
  return table_ == &detail::catalog::mul_sum().table() && epilogue_ == EpilogueKind::bias && pad_value_ == 0.0;
}

bool InnerOp::has_gradients() const {
  if (derivatives_->combine_dx == nullptr || derivatives_->combine_dw == nullptr) return false;
  return epilogue_ != EpilogueKind::op || (table_->epilogue_dy != nullptr && table_->epilogue_db != nullptr);
}

std::string InnerOp::description() const {
  std::string text = table_->name;
  if (derivatives_ != table_) text += std::string(" derivatives=") + derivatives_->name;
  if (!params_.empty()) {
    text += " params=[";
    for (std::size_t i = 0; i < params_.size(); ++i) text += (i ? ", " : "") + number(params_[i]);
    text += "]";
  }
  text += std::string(" epilogue=") + epilogue_name(epilogue_);
  if (!epilogue_params_.empty()) {
    text += "{";
    for (std::size_t i = 0; i < epilogue_params_.size(); ++i) text += (i ? ", " : "") + number(epilogue_params_[i]);
    text += "}";
  }
  if (pad_value_ != 0.0) text += " pad=" + number(pad_value_);
  return text;
}

}  // namespace fastconv
