// few_channels_engine.hpp — (being written) see engine.hpp for the engine's one-line description.
#pragma once

#include "engines/conv_engine.hpp"

namespace fastconv::detail {

const ConvEngine& few_channels_engine();

}  // namespace fastconv::detail
