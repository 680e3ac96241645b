// bindings.cpp — the _fastconv extension: a thin layer over the C++ API for fastconv's Python
// package. Tensors cross as descriptors (data address, dtype name, shape, strides in elements)
// that the Python side takes from numpy arrays or torch tensors, so no copy is made and
// neither numpy nor torch is needed here. Computation runs with the GIL released.
// fastconv::Error becomes, by its kind: TypeError (unsupported or mixed dtypes), MemoryError
// (out of memory), SizeOverflowError (a size beyond 64 bits; a subclass of both OverflowError
// and ValueError) or ValueError (invalid arguments, engine declined), with the library's message.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include "fastconv/fastconv.hpp"

namespace py = pybind11;

namespace {

using Shape = std::vector<std::int64_t>;
// (data address, dtype name, shape, strides in elements)
using Descriptor = std::tuple<std::uintptr_t, std::string, Shape, Shape>;
using OptionalDescriptor = std::optional<Descriptor>;

fastconv::DType parse_dtype(const std::string& name) {
  if (name == "float32") return fastconv::DType::float32;
  if (name == "float64") return fastconv::DType::float64;
  throw fastconv::Error(fastconv::ErrorKind::unsupported_dtype,
                        "dtype " + name + " is not supported; use float32 or float64");
}

fastconv::TensorView to_view(const OptionalDescriptor& descriptor) {
  if (!descriptor) return {};
  const auto& [address, dtype, shape, strides] = *descriptor;
  return fastconv::TensorView::strided(reinterpret_cast<void*>(address), parse_dtype(dtype), shape,
                                       strides);
}

// Parameters arrive as a dict: spatial_dims, stride, dilation, pad_begin, pad_end,
// output_padding (lists of spatial_dims ints) and groups.
fastconv::ConvParams to_params(const py::dict& values) {
  fastconv::ConvParams params(values["spatial_dims"].cast<int>());
  const auto list = [&](const char* key) { return values[key].cast<Shape>(); };
  params.set_stride(list("stride"));
  params.set_dilation(list("dilation"));
  params.set_padding(list("pad_begin"), list("pad_end"));
  params.set_output_padding(list("output_padding"));
  params.groups(values["groups"].cast<std::int64_t>());
  return params;
}

fastconv::ConvKind parse_kind(const std::string& name) {
  if (name == "forward") return fastconv::ConvKind::forward;
  if (name == "transposed") return fastconv::ConvKind::transposed;
  if (name == "backward_data") return fastconv::ConvKind::backward_data;
  if (name == "backward_weights") return fastconv::ConvKind::backward_weights;
  throw fastconv::Error(fastconv::ErrorKind::invalid_argument, "unknown convolution kind '" + name + "'");
}

// Operands arrive as a dict name -> descriptor (or None) with the ConvArgs member names.
fastconv::ConvArgs to_args(const py::dict& operands) {
  fastconv::ConvArgs args;
  const std::pair<const char*, fastconv::TensorView*> slots[] = {
      {"src", &args.src},           {"weight", &args.weight},     {"bias", &args.bias},
      {"dst", &args.dst},           {"diff_dst", &args.diff_dst}, {"diff_src", &args.diff_src},
      {"diff_weight", &args.diff_weight}, {"diff_bias", &args.diff_bias}};
  for (const auto& [name, view] : slots) {
    if (operands.contains(name)) *view = to_view(operands[name].cast<OptionalDescriptor>());
  }
  for (const auto& item : operands) {
    const auto key = item.first.cast<std::string>();
    bool known = false;
    for (const auto& slot : slots) known = known || key == slot.first;
    if (!known) throw fastconv::Error(fastconv::ErrorKind::invalid_argument, "unknown operand '" + key + "'");
  }
  return args;
}

// op: an inner operation (fastconv.custom_conv*d), or None for the convolution.
void run_conv(const std::string& kind, const py::dict& operands, const py::dict& params,
              const std::string& engine, const fastconv::InnerOp* op) {
  const fastconv::ConvArgs args = to_args(operands);
  const fastconv::ConvParams conv_params = to_params(params);
  const fastconv::ConvKind conv_kind = parse_kind(kind);
  const fastconv::Engine conv_engine = fastconv::parse_engine(engine);
  py::gil_scoped_release release;
  const auto plan = op == nullptr ? fastconv::cached_plan(conv_kind, args, conv_params, conv_engine)
                                  : fastconv::cached_plan(conv_kind, args, conv_params, conv_engine, *op);
  plan->run(args);
}

// An InnerOp with its run-time settings: `base` (a catalog operation or a compiled one) with
// the operation's parameters, a catalog epilogue (name and parameters), the pad value and,
// optionally, the derivatives of `donor`.
fastconv::InnerOp configured_op(const fastconv::InnerOp& base, double pad_value,
                                const std::vector<double>& op_params, const std::string& epilogue,
                                const std::vector<double>& epilogue_params,
                                const fastconv::InnerOp* donor) {
  fastconv::InnerOp op = base;
  op.pad_value(pad_value);
  op.params(op_params);
  if (epilogue_params.empty()) {
    op.epilogue(epilogue);
  } else if (epilogue_params.size() == 1) {
    op.epilogue(epilogue, {epilogue_params[0]});
  } else if (epilogue_params.size() == 2) {
    op.epilogue(epilogue, {epilogue_params[0], epilogue_params[1]});
  } else {
    throw fastconv::Error(fastconv::ErrorKind::invalid_argument,
                          "epilogue '" + epilogue + "' given " + std::to_string(epilogue_params.size()) +
                              " parameters; catalog epilogues take at most 2");
  }
  if (donor != nullptr) op.derivatives_from(*donor);
  return op;
}

// The InnerOp of a compiled operation's table, at the address its shared library's exported
// accessor returned (FASTCONV_CUSTOM_OP_EXPORT). The library must stay loaded as long as the
// InnerOp (and any copy) lives: the Python package never unloads them.
fastconv::InnerOp op_from_table(std::uintptr_t address) {
  if (address == 0) {
    throw fastconv::Error(fastconv::ErrorKind::invalid_argument, "InnerOp.from_table: null table");
  }
  return fastconv::InnerOp(*reinterpret_cast<const fastconv::custom::OpTable*>(address));
}

// A ConvPlan kept across calls (fastconv.prepare_conv): created from shapes, optionally given
// its weights once, run many times.
class Plan {
 public:
  Plan(const std::string& kind, const py::dict& shapes, const py::dict& params,
       const std::string& engine)
      : plan_(std::make_shared<fastconv::ConvPlan>(parse_kind(kind), to_args(shapes), to_params(params),
                                                   fastconv::parse_engine(engine))) {}
  void pack_weights(const Descriptor& weight) {
    const fastconv::TensorView view = to_view(weight);
    py::gil_scoped_release release;
    plan_->pack_weights(view);
  }
  void run(const py::dict& operands) const {
    const fastconv::ConvArgs args = to_args(operands);
    py::gil_scoped_release release;
    plan_->run(args);
  }
  const fastconv::ConvPlan& plan() const { return *plan_; }
  const std::shared_ptr<fastconv::ConvPlan>& shared() const { return plan_; }

 private:
  std::shared_ptr<fastconv::ConvPlan> plan_;
};

// One call signature bound once (the Python front's fast path): the operands' shapes, dtypes
// and strides are fixed at creation from descriptors (their addresses ignored), and each run
// passes only the addresses of the present operands in ConvArgs order (src, weight, bias, dst,
// diff_dst, diff_src, diff_weight, diff_bias), each an int or a numpy array. The plan is a
// prepared Plan's, or else taken from the plan cache on every run, so the thread count and the
// FASTCONV_* settings of the moment apply. run() returns False, computing nothing, when an
// address is not aligned to the dtype (the caller then takes the copying path).
class BoundConv {
 public:
  BoundConv(const std::string& kind, const py::dict& operands, const py::dict& params,
            const std::string& engine, const fastconv::InnerOp* op)
      : kind_(parse_kind(kind)), templates_(to_args(operands)), params_(to_params(params)),
        engine_(fastconv::parse_engine(engine)), op_(op ? *op : fastconv::InnerOp()) {
    bind_slots();
    // Planned now, so that a problem the library refuses fails here, not on each run.
    py::gil_scoped_release release;
    fastconv::cached_plan(kind_, templates_, params_, engine_, op_);
  }
  BoundConv(const Plan& plan, const py::dict& operands)
      : kind_(plan.plan().kind()), templates_(to_args(operands)), plan_(plan.shared()) {
    bind_slots();
  }

  bool run(const py::args& addresses) const {
    if (addresses.size() != slot_count_) {
      throw fastconv::Error(fastconv::ErrorKind::invalid_argument,
                            "BoundConv.run: " + std::to_string(addresses.size()) + " addresses for " +
                                std::to_string(slot_count_) + " operands");
    }
    fastconv::ConvArgs args = templates_;
    fastconv::TensorView* views[] = {&args.src,      &args.weight,   &args.bias,        &args.dst,
                                     &args.diff_dst, &args.diff_src, &args.diff_weight, &args.diff_bias};
    for (std::size_t i = 0; i < slot_count_; ++i) {
      const std::uintptr_t address = address_of(addresses[i]);
      if (address % item_size_ != 0) return false;
      views[slots_[i]]->data = reinterpret_cast<void*>(address);
    }
    py::gil_scoped_release release;
    if (plan_) {
      plan_->run(args);
    } else {
      fastconv::cached_plan(kind_, templates_, params_, engine_, op_)->run(args);
    }
    return true;
  }

 private:
  void bind_slots() {
    const fastconv::TensorView* views[] = {&templates_.src,      &templates_.weight,   &templates_.bias,
                                           &templates_.dst,      &templates_.diff_dst, &templates_.diff_src,
                                           &templates_.diff_weight, &templates_.diff_bias};
    for (int i = 0; i < 8; ++i) {
      if (views[i]->rank == 0) continue;
      slots_[slot_count_++] = i;
      item_size_ = fastconv::dtype_size(views[i]->dtype);
    }
  }

  static std::uintptr_t address_of(py::handle object) {
    if (PyLong_Check(object.ptr())) return object.cast<std::uintptr_t>();
    if (py::isinstance<py::array>(object)) {
      return reinterpret_cast<std::uintptr_t>(py::detail::array_proxy(object.ptr())->data);
    }
    throw py::type_error("BoundConv.run: expected an address (int) or a numpy array");
  }

  fastconv::ConvKind kind_;
  fastconv::ConvArgs templates_;
  fastconv::ConvParams params_;
  fastconv::Engine engine_ = fastconv::Engine::automatic;
  fastconv::InnerOp op_;
  std::shared_ptr<const fastconv::ConvPlan> plan_;  // a prepared Plan's, else the cache's per run
  std::array<int, 8> slots_{};
  std::size_t slot_count_ = 0;
  std::size_t item_size_ = 4;
};

Shape output_shape(const std::string& kind, const Shape& src, const Shape& weight, const py::dict& params) {
  const fastconv::ConvParams conv_params = to_params(params);
  if (kind == "forward") return fastconv::conv_output_shape(src, weight, conv_params);
  if (kind == "transposed") return fastconv::conv_transpose_output_shape(src, weight, conv_params);
  throw fastconv::Error(fastconv::ErrorKind::invalid_argument, "output_shape: unknown kind '" + kind + "'");
}

void run_window_op(bool is_unfold, const Descriptor& src, const Descriptor& dst, const Shape& kernel,
                   const py::dict& params, const std::string& engine) {
  const fastconv::TensorView src_view = to_view(src), dst_view = to_view(dst);
  const fastconv::ConvParams conv_params = to_params(params);
  const fastconv::Engine conv_engine = fastconv::parse_engine(engine);
  py::gil_scoped_release release;
  if (is_unfold) {
    fastconv::unfold(src_view, dst_view, kernel, conv_params, conv_engine);
  } else {
    fastconv::fold(src_view, dst_view, kernel, conv_params, conv_engine);
  }
}

std::pair<Shape, Shape> windows_layout(const Descriptor& src, const Shape& kernel, const Shape& stride,
                                       const Shape& dilation) {
  const fastconv::TensorView view = fastconv::windows(to_view(src), kernel, stride, dilation);
  return {Shape(view.shape.begin(), view.shape.begin() + view.rank),
          Shape(view.strides.begin(), view.strides.begin() + view.rank)};
}

// The set_num_threads binding: any Python int, refused by name when it does not fit an int.
void set_num_threads(std::int64_t num_threads) {
  if (num_threads < 1 || num_threads > std::numeric_limits<int>::max()) {
    throw fastconv::Error(fastconv::ErrorKind::invalid_argument,
                          "set_num_threads: num_threads = " + std::to_string(num_threads) +
                              "; expected 1 <= num_threads <= " +
                              std::to_string(std::numeric_limits<int>::max()));
  }
  fastconv::set_num_threads(int(num_threads));
}

std::vector<std::string> engine_names(std::span<const fastconv::Engine> engines) {
  std::vector<std::string> names;
  for (fastconv::Engine engine : engines) names.emplace_back(fastconv::engine_name(engine));
  return names;
}

// Raised for ErrorKind::overflow: `except OverflowError` and `except ValueError` both catch it.
PyObject* size_overflow_error = nullptr;

PyObject* python_error_type(fastconv::ErrorKind kind) {
  switch (kind) {
    case fastconv::ErrorKind::unsupported_dtype: return PyExc_TypeError;
    case fastconv::ErrorKind::out_of_memory: return PyExc_MemoryError;
    case fastconv::ErrorKind::overflow: return size_overflow_error;
    case fastconv::ErrorKind::invalid_argument:
    case fastconv::ErrorKind::engine_declined: return PyExc_ValueError;
  }
  return PyExc_ValueError;
}

}  // namespace

PYBIND11_MODULE(_fastconv, module) {
  module.doc() = "fastconv's C++ core; use the fastconv package instead of this module.";
  size_overflow_error = PyErr_NewExceptionWithDoc(
      "fastconv.SizeOverflowError",
      "A size, count or parameter that does not fit in 64 bits (an OverflowError and a ValueError).",
      py::make_tuple(py::handle(PyExc_OverflowError), py::handle(PyExc_ValueError)).release().ptr(),
      nullptr);
  if (size_overflow_error == nullptr) throw py::error_already_set();
  module.attr("SizeOverflowError") = py::handle(size_overflow_error);
  py::register_exception_translator([](std::exception_ptr error) {
    try {
      if (error) std::rethrow_exception(error);
    } catch (const fastconv::Error& e) {
      PyErr_SetString(python_error_type(e.kind()), e.what());
    }
  });
  module.attr("__version__") = fastconv::kVersion;
  py::class_<fastconv::InnerOp>(module, "InnerOp",
                                "A fastconv::InnerOp (fastconv/inner_op.hpp): what custom_conv*d runs.")
      .def(py::init<>())
      .def_static("catalog", [](const std::string& name) { return fastconv::InnerOp::catalog(name); },
                  py::arg("name"))
      .def_static("catalog_names", &fastconv::InnerOp::catalog_names)
      .def_static("from_table", &op_from_table, py::arg("address"))
      .def("configured", &configured_op, py::arg("pad_value"), py::arg("params"), py::arg("epilogue"),
           py::arg("epilogue_params"), py::arg("donor") = py::none())
      .def_property_readonly("name", [](const fastconv::InnerOp& op) { return std::string(op.table().name); })
      .def_property_readonly("reduce", [](const fastconv::InnerOp& op) { return fastconv::reduce_name(op.reduce()); })
      .def_property_readonly("param_count", [](const fastconv::InnerOp& op) { return op.table().param_count; })
      .def_property_readonly("has_own_epilogue", [](const fastconv::InnerOp& op) { return op.table().has_epilogue; })
      .def_property_readonly("has_gradients", &fastconv::InnerOp::has_gradients)
      .def_property_readonly("is_convolution", &fastconv::InnerOp::is_convolution)
      .def_property_readonly("pad_value", [](const fastconv::InnerOp& op) { return op.pad_value(); })
      .def_property_readonly("description", &fastconv::InnerOp::description)
      .def("__repr__", [](const fastconv::InnerOp& op) { return "<InnerOp " + op.description() + ">"; });
  module.def("run_conv", &run_conv, py::arg("kind"), py::arg("operands"), py::arg("params"),
             py::arg("engine"), py::arg("op") = py::none(),
             "Runs one convolution (ConvPlan of `kind`) on descriptors, with an InnerOp or None.");
  py::class_<Plan>(module, "Plan", "A fastconv::ConvPlan on descriptors (see fastconv.prepare_conv).")
      .def(py::init<const std::string&, const py::dict&, const py::dict&, const std::string&>(),
           py::arg("kind"), py::arg("shapes"), py::arg("params"), py::arg("engine"))
      .def("pack_weights", &Plan::pack_weights, py::arg("weight"))
      .def("run", &Plan::run, py::arg("operands"))
      .def_property_readonly("engine", [](const Plan& p) { return fastconv::engine_name(p.plan().engine()); })
      .def_property_readonly("workspace_bytes", [](const Plan& p) { return p.plan().workspace_bytes(); })
      .def_property_readonly("flop_count", [](const Plan& p) { return p.plan().flop_count(); })
      .def_property_readonly("has_packed_weights", [](const Plan& p) { return p.plan().has_packed_weights(); })
      .def_property_readonly("description", [](const Plan& p) { return p.plan().description(); });
  py::class_<BoundConv>(module, "BoundConv",
                        "One call signature bound once; run(*addresses) (fastconv's fast path).")
      .def(py::init<const std::string&, const py::dict&, const py::dict&, const std::string&,
                    const fastconv::InnerOp*>(),
           py::arg("kind"), py::arg("operands"), py::arg("params"), py::arg("engine"),
           py::arg("op") = py::none())
      .def(py::init<const Plan&, const py::dict&>(), py::arg("plan"), py::arg("operands"))
      .def("run", &BoundConv::run);
  module.def("plan_cache_stats", [] {
    const fastconv::PlanCacheStats stats = fastconv::plan_cache_stats();
    py::dict out;
    out["hits"] = stats.hits;
    out["misses"] = stats.misses;
    out["evictions"] = stats.evictions;
    out["size"] = stats.size;
    out["capacity"] = stats.capacity;
    return out;
  }, "The plan cache's counters (fastconv/plan_cache.hpp): hits, misses, evictions, size, capacity.");
  module.def("set_plan_cache_capacity", [](std::size_t plans) { fastconv::set_plan_cache_capacity(plans); },
             py::arg("plans"));
  module.def("clear_plan_cache", &fastconv::clear_plan_cache);
  module.def("output_shape", &output_shape, py::arg("kind"), py::arg("src_shape"),
             py::arg("weight_shape"), py::arg("params"));
  module.def("unfold_output_shape", [](const Shape& src, const Shape& kernel, const py::dict& params) {
    return fastconv::unfold_output_shape(src, kernel, to_params(params));
  });
  module.def("unfold", [](const Descriptor& src, const Descriptor& dst, const Shape& kernel,
                          const py::dict& params, const std::string& engine) {
    run_window_op(true, src, dst, kernel, params, engine);
  });
  module.def("fold", [](const Descriptor& src, const Descriptor& dst, const Shape& kernel,
                        const py::dict& params, const std::string& engine) {
    run_window_op(false, src, dst, kernel, params, engine);
  });
  module.def("windows_layout", &windows_layout, py::arg("src"), py::arg("kernel"),
             py::arg("stride"), py::arg("dilation"));
  module.def(
      "_raise_library_error",
      [](const std::string& kind, const std::string& message) {
        for (auto candidate : {fastconv::ErrorKind::invalid_argument, fastconv::ErrorKind::unsupported_dtype,
                               fastconv::ErrorKind::overflow, fastconv::ErrorKind::engine_declined,
                               fastconv::ErrorKind::out_of_memory}) {
          if (kind == fastconv::error_kind_name(candidate)) throw fastconv::Error(candidate, message);
        }
        throw fastconv::Error(fastconv::ErrorKind::invalid_argument, "unknown error kind '" + kind + "'");
      },
      py::arg("kind"), py::arg("message"),
      "Throws fastconv::Error(kind, message): for the tests of the error translation.");
  module.def("set_num_threads", &set_num_threads, py::arg("num_threads"),
             "Sets the number of threads fastconv's runs use (>= 1). In a process forked from a "
             "multi-threaded parent it is accepted but changes nothing (see get_num_threads).");
  module.def("get_num_threads", &fastconv::get_num_threads,
             "The number of threads fastconv's runs use: set_num_threads' value, else "
             "OMP_NUM_THREADS, else the processors available. 1 in a process forked while its "
             "parent had more than one thread (DataLoader workers, multiprocessing 'fork'): "
             "OpenMP's thread pool does not survive fork. Spawned processes get the normal count.");
  module.def("engines", [] { return engine_names(fastconv::kAllEngines); },
             "Every engine name, 'auto' first.");
  module.def("window_engines", [] { return engine_names(fastconv::kWindowEngines); },
             "The engine names unfold and fold take.");
}
