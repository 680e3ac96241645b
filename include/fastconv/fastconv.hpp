// fastconv/fastconv.hpp — the whole public API.
#pragma once

#include "fastconv/engine.hpp"
#include "fastconv/error.hpp"
#include "fastconv/inner_op.hpp"
#include "fastconv/ops.hpp"
#include "fastconv/params.hpp"
#include "fastconv/plan.hpp"
#include "fastconv/plan_cache.hpp"
#include "fastconv/profile.hpp"
#include "fastconv/shape.hpp"
#include "fastconv/tensor.hpp"
#include "fastconv/threading.hpp"
#include "fastconv/version.hpp"
