// implicit_gemm_engine.cpp — placeholder while the engine is written: declines every problem.
#include "engines/implicit_gemm/implicit_gemm_engine.hpp"

namespace fastconv::detail {
namespace {

class ImplicitGemmEngine final : public TypedConvEngine<ImplicitGemmEngine> {
 public:
  Engine id() const override { return Engine::implicit_gemm; }
  std::string decline_reason(Direction, const ConvGeometry&, DType) const override {
    return "not implemented yet";
  }
  std::size_t workspace_bytes(Direction, const ConvGeometry&, DType) const override { return 0; }
  template <typename T>
  void run_typed(Direction, const ConvGeometry&, const ConvOperands<T>&, void*) const {}
};

}  // namespace

const ConvEngine& implicit_gemm_engine() {
  static const ImplicitGemmEngine engine;
  return engine;
}

}  // namespace fastconv::detail
