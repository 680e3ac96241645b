// few_channels_engine.cpp — placeholder while the engine is written: declines every problem.
#include "engines/few_channels/few_channels_engine.hpp"

namespace fastconv::detail {
namespace {

class FewChannelsEngine final : public TypedConvEngine<FewChannelsEngine> {
 public:
  Engine id() const override { return Engine::few_channels; }
  std::string decline_reason(Direction, const ConvGeometry&, DType) const override {
    return "not implemented yet";
  }
  std::size_t workspace_bytes(Direction, const ConvGeometry&, DType) const override { return 0; }
  template <typename T>
  void run_typed(Direction, const ConvGeometry&, const ConvOperands<T>&, void*) const {}
};

}  // namespace

const ConvEngine& few_channels_engine() {
  static const FewChannelsEngine engine;
  return engine;
}

}  // namespace fastconv::detail
