// trt_shim.cpp: the C++ body of trt_shim.h.
//
// Every entry point catches std::exception and `...`: nothing unwinds into C or Rust.
// TensorRT objects are handed out as opaque pointers: a `trt_builder*` *is* an
// `nvinfer1::IBuilder*`, and so on; only the logger, calibrator and algorithm selector are
// classes of our own that forward TensorRT's virtual calls to C callbacks.
//
// Nothing here references a TensorRT symbol: the factories (createInferBuilder_INTERNAL, ...)
// arrive as function pointers, everything else is a virtual call or an inline header function.

#include "trt_shim.h"

#include <NvInfer.h>
#include <NvOnnxParser.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#if NV_TENSORRT_MAJOR < 8 || (NV_TENSORRT_MAJOR == 8 && NV_TENSORRT_MINOR < 5)
#error "TensorRT older than 8.5 is not supported (the shim uses the name-based I/O API of 8.5). Use TensorRT 8.5 through 10.x headers (set TENSORRT_INCLUDE_DIR)."
#endif

#define TRT_AT_LEAST(major, minor) \
    (NV_TENSORRT_MAJOR > (major) || (NV_TENSORRT_MAJOR == (major) && NV_TENSORRT_MINOR >= (minor)))

// TensorRT 11 removed implicit INT8: calibrators, BuilderFlag::kINT8/kFP16, precision
// constraints, per-layer precisions, dynamic ranges and the algorithm selector. With its headers
// those shim functions report TRT_ERR_UNSUPPORTED; everything else (explicitly quantized builds,
// runtime, inspector) is the same code.
#define TRT_IMPLICIT_INT8 (!TRT_AT_LEAST(11, 0))

using namespace nvinfer1;

namespace {

thread_local std::string g_last_error;

trt_status fail(trt_status code, const char* what) {
    g_last_error = what ? what : "";
    return code;
}
trt_status fail(trt_status code, const std::string& what) {
    g_last_error = what;
    return code;
}

#if !TRT_IMPLICIT_INT8
trt_status removed_in_11(const char* what) {
    return fail(TRT_ERR_UNSUPPORTED, std::string(what) +
        " was removed in TensorRT 11 (no implicit INT8): quantize the model explicitly (Q/DQ nodes)");
}
#endif

#define SHIM_TRY try {
#define SHIM_CATCH                                                                   \
    }                                                                                \
    catch (const std::exception& e) {                                                \
        return fail(TRT_ERR_EXCEPTION, std::string("C++ exception: ") + e.what());   \
    }                                                                                \
    catch (...) {                                                                    \
        return fail(TRT_ERR_EXCEPTION, "unknown C++ exception");                     \
    }

#define CHECK_ARG(p) \
    if (!(p)) return fail(TRT_ERR_NULL_ARGUMENT, __func__ + std::string(": argument `" #p "` is null"))

template <class T> T* as(void* p) { return static_cast<T*>(p); }

// ---------- enum mapping (by name, never by number: TensorRT renumbers between majors) ----------

[[maybe_unused]] bool to_trt_type(int32_t t, DataType& out) {
    switch (t) {
    case TRT_DATA_TYPE_FLOAT: out = DataType::kFLOAT; return true;
    case TRT_DATA_TYPE_HALF: out = DataType::kHALF; return true;
    case TRT_DATA_TYPE_INT8: out = DataType::kINT8; return true;
    case TRT_DATA_TYPE_INT32: out = DataType::kINT32; return true;
    case TRT_DATA_TYPE_BOOL: out = DataType::kBOOL; return true;
    case TRT_DATA_TYPE_UINT8: out = DataType::kUINT8; return true;
#if TRT_AT_LEAST(8, 6)
    case TRT_DATA_TYPE_FP8: out = DataType::kFP8; return true;
#endif
#if TRT_AT_LEAST(9, 0)
    case TRT_DATA_TYPE_BF16: out = DataType::kBF16; return true;
    case TRT_DATA_TYPE_INT64: out = DataType::kINT64; return true;
#endif
#if TRT_AT_LEAST(10, 0)
    case TRT_DATA_TYPE_INT4: out = DataType::kINT4; return true;
#endif
    default: return false;
    }
}

int32_t from_trt_type(DataType t) {
    switch (t) {
    case DataType::kFLOAT: return TRT_DATA_TYPE_FLOAT;
    case DataType::kHALF: return TRT_DATA_TYPE_HALF;
    case DataType::kINT8: return TRT_DATA_TYPE_INT8;
    case DataType::kINT32: return TRT_DATA_TYPE_INT32;
    case DataType::kBOOL: return TRT_DATA_TYPE_BOOL;
    case DataType::kUINT8: return TRT_DATA_TYPE_UINT8;
#if TRT_AT_LEAST(8, 6)
    case DataType::kFP8: return TRT_DATA_TYPE_FP8;
#endif
#if TRT_AT_LEAST(9, 0)
    case DataType::kBF16: return TRT_DATA_TYPE_BF16;
    case DataType::kINT64: return TRT_DATA_TYPE_INT64;
#endif
#if TRT_AT_LEAST(10, 0)
    case DataType::kINT4: return TRT_DATA_TYPE_INT4;
#endif
    default: return TRT_DATA_TYPE_UNKNOWN;
    }
}

const char* layer_type_name(LayerType t) {
#define LT(name) \
    case LayerType::k##name: return #name;
    switch (t) {
        LT(CONVOLUTION) LT(ACTIVATION) LT(POOLING) LT(LRN) LT(SCALE) LT(SOFTMAX) LT(DECONVOLUTION)
        LT(CONCATENATION) LT(ELEMENTWISE) LT(PLUGIN) LT(UNARY) LT(PADDING) LT(SHUFFLE) LT(REDUCE) LT(TOPK)
        LT(GATHER) LT(MATRIX_MULTIPLY) LT(RAGGED_SOFTMAX) LT(CONSTANT) LT(IDENTITY) LT(PLUGIN_V2) LT(SLICE)
        LT(SHAPE) LT(PARAMETRIC_RELU) LT(RESIZE) LT(TRIP_LIMIT) LT(RECURRENCE) LT(ITERATOR) LT(LOOP_OUTPUT)
        LT(SELECT) LT(FILL) LT(QUANTIZE) LT(DEQUANTIZE) LT(CONDITION) LT(CONDITIONAL_INPUT)
        LT(CONDITIONAL_OUTPUT) LT(SCATTER) LT(EINSUM) LT(ASSERTION) LT(ONE_HOT) LT(NON_ZERO) LT(GRID_SAMPLE)
        LT(NMS)
#if NV_TENSORRT_MAJOR < 10
        LT(FULLY_CONNECTED) LT(RNN_V2)
#endif
#if TRT_AT_LEAST(8, 6)
        LT(REVERSE_SEQUENCE) LT(NORMALIZATION)
#endif
#if TRT_AT_LEAST(9, 0)
        LT(CAST)
#endif
    default: return "OTHER";
    }
#undef LT
}

bool to_trt_flag(int32_t f, BuilderFlag& out) {
    switch (f) {
#if TRT_IMPLICIT_INT8
    case TRT_FLAG_FP16: out = BuilderFlag::kFP16; return true;
    case TRT_FLAG_INT8: out = BuilderFlag::kINT8; return true;
    case TRT_FLAG_OBEY_PRECISION_CONSTRAINTS: out = BuilderFlag::kOBEY_PRECISION_CONSTRAINTS; return true;
    case TRT_FLAG_PREFER_PRECISION_CONSTRAINTS: out = BuilderFlag::kPREFER_PRECISION_CONSTRAINTS; return true;
    case TRT_FLAG_REJECT_EMPTY_ALGORITHMS: out = BuilderFlag::kREJECT_EMPTY_ALGORITHMS; return true;
#endif
    case TRT_FLAG_DIRECT_IO: out = BuilderFlag::kDIRECT_IO; return true;
    case TRT_FLAG_DISABLE_TIMING_CACHE: out = BuilderFlag::kDISABLE_TIMING_CACHE; return true;
    case TRT_FLAG_TF32: out = BuilderFlag::kTF32; return true;
    case TRT_FLAG_GPU_FALLBACK: out = BuilderFlag::kGPU_FALLBACK; return true;
#if TRT_AT_LEAST(8, 6)
    case TRT_FLAG_VERSION_COMPATIBLE: out = BuilderFlag::kVERSION_COMPATIBLE; return true;
    case TRT_FLAG_EXCLUDE_LEAN_RUNTIME: out = BuilderFlag::kEXCLUDE_LEAN_RUNTIME; return true;
#endif
    default: return false;
    }
}

const struct {
    uint32_t bit;
    TacticSource source;
} kTacticSources[] = {
#if TRT_IMPLICIT_INT8 /* cuBLAS and cuDNN tactics are gone in 11 too */
    {TRT_TACTIC_CUBLAS, TacticSource::kCUBLAS},
    {TRT_TACTIC_CUBLAS_LT, TacticSource::kCUBLAS_LT},
    {TRT_TACTIC_CUDNN, TacticSource::kCUDNN},
#endif
    {TRT_TACTIC_EDGE_MASK_CONVOLUTIONS, TacticSource::kEDGE_MASK_CONVOLUTIONS},
    {TRT_TACTIC_JIT_CONVOLUTIONS, TacticSource::kJIT_CONVOLUTIONS},
};

bool to_trt_selector(int32_t s, OptProfileSelector& out) {
    switch (s) {
    case TRT_PROFILE_MIN: out = OptProfileSelector::kMIN; return true;
    case TRT_PROFILE_OPT: out = OptProfileSelector::kOPT; return true;
    case TRT_PROFILE_MAX: out = OptProfileSelector::kMAX; return true;
    default: return false;
    }
}

void from_dims(const Dims& d, trt_dims* out) {
    out->nb_dims = d.nbDims;
    for (int i = 0; i < TRT_MAX_DIMS; ++i) out->d[i] = (i < d.nbDims && d.nbDims > 0) ? d.d[i] : 0;
}

bool to_dims(const trt_dims* in, Dims& out) {
    if (in->nb_dims < 0 || in->nb_dims > Dims::MAX_DIMS || in->nb_dims > TRT_MAX_DIMS) return false;
    out.nbDims = in->nb_dims;
    for (int i = 0; i < in->nb_dims; ++i) out.d[i] = static_cast<decltype(out.d[0] + 0)>(in->d[i]);
    return true;
}

// ---------- callback objects ----------

class ShimLogger final : public ILogger {
public:
    ShimLogger(trt_log_fn cb, void* user) : cb_(cb), user_(user) {}
    void log(Severity severity, AsciiChar const* msg) noexcept override {
        // The callback is ours (Rust, catch_unwind inside); guard anyway so nothing unwinds into TensorRT.
        try {
            cb_(user_, static_cast<int32_t>(severity), msg);
        } catch (...) {
        }
    }

private:
    trt_log_fn cb_;
    void* user_;
};

template <class Base> class ShimCalibrator final : public Base {
public:
    explicit ShimCalibrator(const trt_calibrator_callbacks& cb) : cb_(cb) {}
    int32_t getBatchSize() const noexcept override {
        try {
            return cb_.batch_size(cb_.user_data);
        } catch (...) {
            return 0;
        }
    }
    bool getBatch(void* bindings[], char const* names[], int32_t nbBindings) noexcept override {
        try {
            return cb_.get_batch(cb_.user_data, bindings, names, nbBindings) != 0;
        } catch (...) {
            return false;
        }
    }
    void const* readCalibrationCache(std::size_t& length) noexcept override {
        try {
            length = 0;
            size_t len = 0;
            const void* p = cb_.read_cache(cb_.user_data, &len);
            length = p ? len : 0;
            return length ? p : nullptr;
        } catch (...) {
            length = 0;
            return nullptr;
        }
    }
    void writeCalibrationCache(void const* ptr, std::size_t length) noexcept override {
        try {
            cb_.write_cache(cb_.user_data, ptr, length);
        } catch (...) {
        }
    }

private:
    trt_calibrator_callbacks cb_;
};

#if TRT_IMPLICIT_INT8
class ShimAlgorithmSelector final : public IAlgorithmSelector {
public:
    explicit ShimAlgorithmSelector(const trt_algorithm_selector_callbacks& cb) : cb_(cb) {}
    int32_t selectAlgorithms(IAlgorithmContext const& context, IAlgorithm const* const* choices, int32_t nbChoices,
        int32_t* selection) noexcept override {
        try {
            std::vector<trt_algorithm_choice> c(static_cast<size_t>(nbChoices > 0 ? nbChoices : 0));
            for (int32_t i = 0; i < nbChoices; ++i) c[i] = choice(choices[i]);
            return cb_.select(cb_.user_data, context.getName(), c.data(), nbChoices, selection);
        } catch (...) {
            return 0;
        }
    }
    void reportAlgorithms(IAlgorithmContext const* const* contexts, IAlgorithm const* const* algos,
        int32_t nb) noexcept override {
        try {
            std::vector<const char*> names(static_cast<size_t>(nb > 0 ? nb : 0));
            std::vector<trt_algorithm_choice> c(names.size());
            for (int32_t i = 0; i < nb; ++i) {
                names[i] = contexts[i] ? contexts[i]->getName() : "";
                c[i] = choice(algos[i]);
            }
            cb_.report(cb_.user_data, names.data(), c.data(), nb);
        } catch (...) {
        }
    }

private:
    static trt_algorithm_choice choice(IAlgorithm const* a) {
        trt_algorithm_choice c{};
        if (!a) return c;
        c.implementation = a->getAlgorithmVariant().getImplementation();
        c.tactic = a->getAlgorithmVariant().getTactic();
        c.timing_ms = a->getTimingMSec();
        c.workspace = a->getWorkspaceSize();
        return c;
    }
    trt_algorithm_selector_callbacks cb_;
};
#endif

} // namespace

extern "C" {

const char* trt_last_error(void) { return g_last_error.c_str(); }
void trt_clear_last_error(void) { g_last_error.clear(); }

void trt_header_version(int32_t* major, int32_t* minor, int32_t* patch) {
    if (major) *major = NV_TENSORRT_MAJOR;
    if (minor) *minor = NV_TENSORRT_MINOR;
    if (patch) *patch = NV_TENSORRT_PATCH;
}

// ---------- logger ----------

trt_status trt_logger_create(trt_log_fn callback, void* user_data, trt_logger** out) {
    CHECK_ARG(callback);
    CHECK_ARG(out);
    SHIM_TRY
    *out = reinterpret_cast<trt_logger*>(static_cast<ILogger*>(new ShimLogger(callback, user_data)));
    return TRT_OK;
    SHIM_CATCH
}

void trt_logger_destroy(trt_logger* logger) { delete static_cast<ShimLogger*>(reinterpret_cast<ILogger*>(logger)); }

trt_status trt_logger_vcall_log(trt_logger* logger, int32_t severity, const char* msg) {
    CHECK_ARG(logger);
    SHIM_TRY
    reinterpret_cast<ILogger*>(logger)->log(static_cast<ILogger::Severity>(severity), msg);
    return TRT_OK;
    SHIM_CATCH
}

// ---------- builder ----------

#define OBJ(T, p) reinterpret_cast<T*>(p)

// TensorRT's factories may fail without returning null: the 10.16 lean runtime, on a machine
// without a usable CUDA driver, logs "CUDA initialization failure with error: 35" and returns
// 0x228 (measured). No object lives in the first 64 KiB of the address space.
static bool factory_failed(const void* p) { return reinterpret_cast<uintptr_t>(p) < 0x10000; }

trt_status trt_builder_create(trt_factory_fn create_builder, trt_logger* logger, trt_builder** out) {
    CHECK_ARG(create_builder);
    CHECK_ARG(logger);
    CHECK_ARG(out);
    SHIM_TRY
    void* b = create_builder(static_cast<void*>(OBJ(ILogger, logger)), NV_TENSORRT_VERSION);
    if (factory_failed(b)) return fail(TRT_ERR_TENSORRT, "createInferBuilder failed (see the TensorRT log; is a CUDA device visible?)");
    *out = reinterpret_cast<trt_builder*>(static_cast<IBuilder*>(b));
    return TRT_OK;
    SHIM_CATCH
}

void trt_builder_destroy(trt_builder* builder) { delete OBJ(IBuilder, builder); }

trt_status trt_builder_platform_has_fast_int8(trt_builder* builder, int32_t* out) {
    CHECK_ARG(builder);
    CHECK_ARG(out);
    SHIM_TRY
#if NV_TENSORRT_MAJOR >= 10
    *out = 1; // deprecated and always true on the GPUs 10.x supports
#else
    *out = OBJ(IBuilder, builder)->platformHasFastInt8() ? 1 : 0;
#endif
    return TRT_OK;
    SHIM_CATCH
}

trt_status trt_builder_create_network(trt_builder* builder, trt_network** out) {
    CHECK_ARG(builder);
    CHECK_ARG(out);
    SHIM_TRY
#if NV_TENSORRT_MAJOR >= 10
    NetworkDefinitionCreationFlags flags = 0; // explicit batch is the only mode
#else
    NetworkDefinitionCreationFlags flags = 1U << static_cast<uint32_t>(NetworkDefinitionCreationFlag::kEXPLICIT_BATCH);
#endif
    INetworkDefinition* n = OBJ(IBuilder, builder)->createNetworkV2(flags);
    if (!n) return fail(TRT_ERR_TENSORRT, "createNetworkV2 failed");
    *out = reinterpret_cast<trt_network*>(n);
    return TRT_OK;
    SHIM_CATCH
}

trt_status trt_builder_create_config(trt_builder* builder, trt_config** out) {
    CHECK_ARG(builder);
    CHECK_ARG(out);
    SHIM_TRY
    IBuilderConfig* c = OBJ(IBuilder, builder)->createBuilderConfig();
    if (!c) return fail(TRT_ERR_TENSORRT, "createBuilderConfig failed");
    *out = reinterpret_cast<trt_config*>(c);
    return TRT_OK;
    SHIM_CATCH
}

trt_status trt_builder_create_profile(trt_builder* builder, trt_profile** out) {
    CHECK_ARG(builder);
    CHECK_ARG(out);
    SHIM_TRY
    IOptimizationProfile* p = OBJ(IBuilder, builder)->createOptimizationProfile();
    if (!p) return fail(TRT_ERR_TENSORRT, "createOptimizationProfile failed");
    *out = reinterpret_cast<trt_profile*>(p);
    return TRT_OK;
    SHIM_CATCH
}

trt_status trt_builder_build_serialized(
    trt_builder* builder, trt_network* network, trt_config* config, trt_host_memory** out) {
    CHECK_ARG(builder);
    CHECK_ARG(network);
    CHECK_ARG(config);
    CHECK_ARG(out);
    SHIM_TRY
    IHostMemory* m = OBJ(IBuilder, builder)->buildSerializedNetwork(*OBJ(INetworkDefinition, network), *OBJ(IBuilderConfig, config));
    if (!m) return fail(TRT_ERR_TENSORRT, "buildSerializedNetwork failed (the TensorRT log above says why)");
    *out = reinterpret_cast<trt_host_memory*>(m);
    return TRT_OK;
    SHIM_CATCH
}

trt_status trt_host_memory_data(trt_host_memory* mem, const void** data, size_t* size) {
    CHECK_ARG(mem);
    CHECK_ARG(data);
    CHECK_ARG(size);
    SHIM_TRY
    *data = OBJ(IHostMemory, mem)->data();
    *size = OBJ(IHostMemory, mem)->size();
    return TRT_OK;
    SHIM_CATCH
}

void trt_host_memory_destroy(trt_host_memory* mem) { delete OBJ(IHostMemory, mem); }

// ---------- ONNX parser ----------

trt_status trt_parser_create(
    trt_parser_factory_fn create_parser, trt_network* network, trt_logger* logger, trt_parser** out) {
    CHECK_ARG(create_parser);
    CHECK_ARG(network);
    CHECK_ARG(logger);
    CHECK_ARG(out);
    SHIM_TRY
    void* p = create_parser(
        static_cast<void*>(OBJ(INetworkDefinition, network)), static_cast<void*>(OBJ(ILogger, logger)), NV_ONNX_PARSER_VERSION);
    if (factory_failed(p)) return fail(TRT_ERR_TENSORRT, "createNvOnnxParser failed");
    *out = reinterpret_cast<trt_parser*>(static_cast<nvonnxparser::IParser*>(p));
    return TRT_OK;
    SHIM_CATCH
}

// Through destroy() on 8.x, not the virtual destructor: the destructor's vtable slot moved
// between NvOnnxParser.h versions (onnx-tensorrt's 8.6-EA header puts five flag methods before
// it, 8.5 and 8.6-GA do not), and a header/library mismatch there crashed every `trt build` on
// TensorRT 8.6.0. destroy() sits at the same slot in every 8.x header; 10.x removed it.
void trt_parser_destroy(trt_parser* parser) {
#if NV_TENSORRT_MAJOR < 10
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    if (parser) OBJ(nvonnxparser::IParser, parser)->destroy();
#pragma GCC diagnostic pop
#else
    delete OBJ(nvonnxparser::IParser, parser);
#endif
}

trt_status trt_parser_parse(trt_parser* parser, const void* data, size_t size, const char* model_path, int32_t* parse_ok) {
    CHECK_ARG(parser);
    CHECK_ARG(data);
    CHECK_ARG(parse_ok);
    SHIM_TRY
    *parse_ok = OBJ(nvonnxparser::IParser, parser)->parse(data, size, model_path) ? 1 : 0;
    return TRT_OK;
    SHIM_CATCH
}

trt_status trt_parser_parse_file(trt_parser* parser, const char* path, int32_t* parse_ok) {
    CHECK_ARG(parser);
    CHECK_ARG(path);
    CHECK_ARG(parse_ok);
    SHIM_TRY
    *parse_ok = OBJ(nvonnxparser::IParser, parser)->parseFromFile(path, static_cast<int>(ILogger::Severity::kWARNING)) ? 1 : 0;
    return TRT_OK;
    SHIM_CATCH
}

trt_status trt_parser_nb_errors(trt_parser* parser, int32_t* out) {
    CHECK_ARG(parser);
    CHECK_ARG(out);
    SHIM_TRY
    *out = OBJ(nvonnxparser::IParser, parser)->getNbErrors();
    return TRT_OK;
    SHIM_CATCH
}

trt_status trt_parser_error(trt_parser* parser, int32_t index, int32_t* code, int32_t* node, const char** desc) {
    CHECK_ARG(parser);
    CHECK_ARG(code);
    CHECK_ARG(node);
    CHECK_ARG(desc);
    SHIM_TRY
    auto* p = OBJ(nvonnxparser::IParser, parser);
    if (index < 0 || index >= p->getNbErrors()) return fail(TRT_ERR_OUT_OF_RANGE, "parser error index out of range");
    const nvonnxparser::IParserError* e = p->getError(index);
    if (!e) return fail(TRT_ERR_TENSORRT, "getError returned null");
    *code = static_cast<int32_t>(e->code());
    *node = e->node();
    *desc = e->desc() ? e->desc() : "";
    return TRT_OK;
    SHIM_CATCH
}

// ---------- network ----------

void trt_network_destroy(trt_network* network) { delete OBJ(INetworkDefinition, network); }

#define COUNT_FN(fn, T, h, expr)               \
    trt_status fn(T* h, int32_t* out) {        \
        CHECK_ARG(h);                          \
        CHECK_ARG(out);                        \
        SHIM_TRY *out = (expr);                \
        return TRT_OK;                         \
        SHIM_CATCH                             \
    }

COUNT_FN(trt_network_nb_inputs, trt_network, network, OBJ(INetworkDefinition, network)->getNbInputs())
COUNT_FN(trt_network_nb_outputs, trt_network, network, OBJ(INetworkDefinition, network)->getNbOutputs())
COUNT_FN(trt_network_nb_layers, trt_network, network, OBJ(INetworkDefinition, network)->getNbLayers())

#define INDEXED_FN(fn, T, h, OutT, count, get)                                          \
    trt_status fn(T* h, int32_t index, OutT** out) {                                    \
        CHECK_ARG(h);                                                                   \
        CHECK_ARG(out);                                                                 \
        SHIM_TRY if (index < 0 || index >= (count)) return fail(TRT_ERR_OUT_OF_RANGE,   \
            std::string(#fn ": index ") + std::to_string(index) + " out of range");     \
        *out = reinterpret_cast<OutT*>(get);                                            \
        return TRT_OK;                                                                  \
        SHIM_CATCH                                                                      \
    }

INDEXED_FN(trt_network_input, trt_network, network, trt_tensor, OBJ(INetworkDefinition, network)->getNbInputs(),
    OBJ(INetworkDefinition, network)->getInput(index))
INDEXED_FN(trt_network_output, trt_network, network, trt_tensor, OBJ(INetworkDefinition, network)->getNbOutputs(),
    OBJ(INetworkDefinition, network)->getOutput(index))
INDEXED_FN(trt_network_layer, trt_network, network, trt_layer, OBJ(INetworkDefinition, network)->getNbLayers(),
    OBJ(INetworkDefinition, network)->getLayer(index))
INDEXED_FN(trt_layer_input, trt_layer, layer, trt_tensor, OBJ(ILayer, layer)->getNbInputs(), OBJ(ILayer, layer)->getInput(index))
INDEXED_FN(trt_layer_output, trt_layer, layer, trt_tensor, OBJ(ILayer, layer)->getNbOutputs(), OBJ(ILayer, layer)->getOutput(index))

trt_status trt_network_mark_output(trt_network* network, trt_tensor* tensor) {
    CHECK_ARG(network);
    CHECK_ARG(tensor);
    SHIM_TRY
    auto* t = OBJ(ITensor, tensor);
    if (t->isNetworkOutput()) return fail(TRT_ERR_TENSORRT, std::string("tensor ") + t->getName() + " is already a network output");
    OBJ(INetworkDefinition, network)->markOutput(*t);
    if (!t->isNetworkOutput()) return fail(TRT_ERR_TENSORRT, std::string("markOutput did not mark ") + t->getName());
    return TRT_OK;
    SHIM_CATCH
}

trt_status trt_network_unmark_output(trt_network* network, trt_tensor* tensor) {
    CHECK_ARG(network);
    CHECK_ARG(tensor);
    SHIM_TRY
    auto* t = OBJ(ITensor, tensor);
    if (!t->isNetworkOutput()) return fail(TRT_ERR_TENSORRT, std::string("tensor ") + t->getName() + " is not a network output");
    OBJ(INetworkDefinition, network)->unmarkOutput(*t);
    if (t->isNetworkOutput()) return fail(TRT_ERR_TENSORRT, std::string("unmarkOutput left ") + t->getName() + " an output");
    return TRT_OK;
    SHIM_CATCH
}

trt_status trt_tensor_name(trt_tensor* tensor, const char** out) {
    CHECK_ARG(tensor);
    CHECK_ARG(out);
    SHIM_TRY
    *out = OBJ(ITensor, tensor)->getName();
    return TRT_OK;
    SHIM_CATCH
}

trt_status trt_tensor_dims(trt_tensor* tensor, trt_dims* out) {
    CHECK_ARG(tensor);
    CHECK_ARG(out);
    SHIM_TRY
    from_dims(OBJ(ITensor, tensor)->getDimensions(), out);
    return TRT_OK;
    SHIM_CATCH
}

COUNT_FN(trt_tensor_type, trt_tensor, tensor, from_trt_type(OBJ(ITensor, tensor)->getType()))

trt_status trt_tensor_set_dynamic_range(trt_tensor* tensor, float min, float max) {
    CHECK_ARG(tensor);
#if TRT_IMPLICIT_INT8
    SHIM_TRY
    if (!OBJ(ITensor, tensor)->setDynamicRange(min, max)) return fail(TRT_ERR_TENSORRT, "setDynamicRange rejected the range");
    return TRT_OK;
    SHIM_CATCH
#else
    (void)min, (void)max;
    return removed_in_11("ITensor::setDynamicRange");
#endif
}

// ---------- layers ----------

trt_status trt_layer_name(trt_layer* layer, const char** out) {
    CHECK_ARG(layer);
    CHECK_ARG(out);
    SHIM_TRY
    *out = OBJ(ILayer, layer)->getName();
    return TRT_OK;
    SHIM_CATCH
}

trt_status trt_layer_type(trt_layer* layer, const char** out) {
    CHECK_ARG(layer);
    CHECK_ARG(out);
    SHIM_TRY
    *out = layer_type_name(OBJ(ILayer, layer)->getType());
    return TRT_OK;
    SHIM_CATCH
}

#if TRT_IMPLICIT_INT8
COUNT_FN(trt_layer_precision, trt_layer, layer, from_trt_type(OBJ(ILayer, layer)->getPrecision()))
COUNT_FN(trt_layer_precision_is_set, trt_layer, layer, OBJ(ILayer, layer)->precisionIsSet() ? 1 : 0)
#else /* strongly typed: no per-layer precision; report "float, not set" */
COUNT_FN(trt_layer_precision, trt_layer, layer, ((void)layer, from_trt_type(DataType::kFLOAT)))
COUNT_FN(trt_layer_precision_is_set, trt_layer, layer, ((void)layer, 0))
#endif
COUNT_FN(trt_layer_nb_inputs, trt_layer, layer, OBJ(ILayer, layer)->getNbInputs())
COUNT_FN(trt_layer_nb_outputs, trt_layer, layer, OBJ(ILayer, layer)->getNbOutputs())

trt_status trt_layer_set_precision(trt_layer* layer, int32_t data_type) {
    CHECK_ARG(layer);
#if TRT_IMPLICIT_INT8
    SHIM_TRY
    DataType t;
    if (!to_trt_type(data_type, t)) return fail(TRT_ERR_UNSUPPORTED, "data type not supported by these TensorRT headers");
    OBJ(ILayer, layer)->setPrecision(t);
    return TRT_OK;
    SHIM_CATCH
#else
    (void)layer, (void)data_type;
    return removed_in_11("ILayer::setPrecision");
#endif
}

trt_status trt_layer_reset_precision(trt_layer* layer) {
    CHECK_ARG(layer);
#if TRT_IMPLICIT_INT8
    SHIM_TRY
    OBJ(ILayer, layer)->resetPrecision();
    return TRT_OK;
    SHIM_CATCH
#else
    (void)layer;
    return removed_in_11("ILayer::resetPrecision");
#endif
}

trt_status trt_layer_output_type(trt_layer* layer, int32_t index, int32_t* out) {
    CHECK_ARG(layer);
    CHECK_ARG(out);
    SHIM_TRY
    if (index < 0 || index >= OBJ(ILayer, layer)->getNbOutputs()) return fail(TRT_ERR_OUT_OF_RANGE, "output index out of range");
    *out = from_trt_type(OBJ(ILayer, layer)->getOutputType(index));
    return TRT_OK;
    SHIM_CATCH
}

// IEEE half bits to float (weights only: no dependency on cuda_fp16.h).
static float half_to_float(uint16_t h) {
    const uint32_t sign = (h >> 15) & 1u, exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
    float v;
    if (exp == 0) v = std::ldexp(static_cast<float>(mant), -24);
    else if (exp == 31) v = mant ? NAN : INFINITY;
    else v = std::ldexp(static_cast<float>(mant | 0x400u), static_cast<int>(exp) - 25);
    return sign ? -v : v;
}

trt_status trt_layer_constant_absmax(trt_layer* layer, float* absmax, int64_t* count) {
    CHECK_ARG(layer);
    CHECK_ARG(absmax);
    CHECK_ARG(count);
    SHIM_TRY
    ILayer* l = OBJ(ILayer, layer);
    if (l->getType() != LayerType::kCONSTANT) return fail(TRT_ERR_UNSUPPORTED, "not a CONSTANT layer");
    const Weights w = static_cast<IConstantLayer*>(l)->getWeights();
    if (w.count > 0 && w.values == nullptr) return fail(TRT_ERR_TENSORRT, "constant layer without weight values");
    float m = 0.0f;
    if (w.type == DataType::kFLOAT) {
        const float* v = static_cast<const float*>(w.values);
        for (int64_t i = 0; i < w.count; ++i) m = std::max(m, std::fabs(v[i]));
    } else if (w.type == DataType::kHALF) {
        const uint16_t* v = static_cast<const uint16_t*>(w.values);
        for (int64_t i = 0; i < w.count; ++i) m = std::max(m, std::fabs(half_to_float(v[i])));
    } else {
        return fail(TRT_ERR_UNSUPPORTED, "constant weights are not FLOAT or HALF");
    }
    *absmax = m;
    *count = w.count;
    return TRT_OK;
    SHIM_CATCH
}

trt_status trt_layer_set_output_type(trt_layer* layer, int32_t index, int32_t data_type) {
    CHECK_ARG(layer);
#if TRT_IMPLICIT_INT8
    SHIM_TRY
    DataType t;
    if (!to_trt_type(data_type, t)) return fail(TRT_ERR_UNSUPPORTED, "data type not supported by these TensorRT headers");
    if (index < 0 || index >= OBJ(ILayer, layer)->getNbOutputs()) return fail(TRT_ERR_OUT_OF_RANGE, "output index out of range");
    OBJ(ILayer, layer)->setOutputType(index, t);
    return TRT_OK;
    SHIM_CATCH
#else
    (void)layer, (void)index, (void)data_type;
    return removed_in_11("ILayer::setOutputType");
#endif
}

trt_status trt_layer_reset_output_type(trt_layer* layer, int32_t index) {
    CHECK_ARG(layer);
#if TRT_IMPLICIT_INT8
    SHIM_TRY
    if (index < 0 || index >= OBJ(ILayer, layer)->getNbOutputs()) return fail(TRT_ERR_OUT_OF_RANGE, "output index out of range");
    OBJ(ILayer, layer)->resetOutputType(index);
    return TRT_OK;
    SHIM_CATCH
#else
    (void)layer, (void)index;
    return removed_in_11("ILayer::resetOutputType");
#endif
}

// ---------- config ----------

void trt_config_destroy(trt_config* config) { delete OBJ(IBuilderConfig, config); }

trt_status trt_config_set_hardware_compatibility(trt_config* config, int32_t level) {
    CHECK_ARG(config);
    SHIM_TRY
#if TRT_AT_LEAST(8, 6)
    HardwareCompatibilityLevel l;
    switch (level) {
    case TRT_HW_COMPAT_NONE: l = HardwareCompatibilityLevel::kNONE; break;
    case TRT_HW_COMPAT_AMPERE_PLUS: l = HardwareCompatibilityLevel::kAMPERE_PLUS; break;
#if TRT_AT_LEAST(10, 8) /* conservatively: the level appeared during 10.x */
    case TRT_HW_COMPAT_SAME_COMPUTE_CAPABILITY: l = HardwareCompatibilityLevel::kSAME_COMPUTE_CAPABILITY; break;
#endif
    default: return fail(TRT_ERR_UNSUPPORTED, "hardware compatibility level not available in these TensorRT headers");
    }
    OBJ(IBuilderConfig, config)->setHardwareCompatibilityLevel(l);
    return TRT_OK;
#else
    if (level == TRT_HW_COMPAT_NONE) return TRT_OK;
    return fail(TRT_ERR_UNSUPPORTED, "hardware compatibility needs TensorRT 8.6 or later");
#endif
    SHIM_CATCH
}

trt_status trt_config_set_flag(trt_config* config, int32_t flag, int32_t on) {
    CHECK_ARG(config);
    SHIM_TRY
    BuilderFlag f;
#if !TRT_IMPLICIT_INT8
    if (flag == TRT_FLAG_FP16 || flag == TRT_FLAG_INT8 || flag == TRT_FLAG_OBEY_PRECISION_CONSTRAINTS ||
        flag == TRT_FLAG_PREFER_PRECISION_CONSTRAINTS)
        return removed_in_11("BuilderFlag::kFP16/kINT8 and precision constraints");
#endif
    if (!to_trt_flag(flag, f)) return fail(TRT_ERR_UNSUPPORTED, "builder flag not available in these TensorRT headers");
    if (on)
        OBJ(IBuilderConfig, config)->setFlag(f);
    else
        OBJ(IBuilderConfig, config)->clearFlag(f);
    return TRT_OK;
    SHIM_CATCH
}

trt_status trt_config_get_flag(trt_config* config, int32_t flag, int32_t* out) {
    CHECK_ARG(config);
    CHECK_ARG(out);
    SHIM_TRY
    BuilderFlag f;
    if (!to_trt_flag(flag, f)) return fail(TRT_ERR_UNSUPPORTED, "builder flag not available in these TensorRT headers");
    *out = OBJ(IBuilderConfig, config)->getFlag(f) ? 1 : 0;
    return TRT_OK;
    SHIM_CATCH
}

trt_status trt_config_set_workspace_limit(trt_config* config, uint64_t bytes) {
    CHECK_ARG(config);
    SHIM_TRY
    OBJ(IBuilderConfig, config)->setMemoryPoolLimit(MemoryPoolType::kWORKSPACE, static_cast<std::size_t>(bytes));
    return TRT_OK;
    SHIM_CATCH
}

trt_status trt_config_set_profiling_verbosity(trt_config* config, int32_t verbosity) {
    CHECK_ARG(config);
    SHIM_TRY
    ProfilingVerbosity v;
    switch (verbosity) {
    case TRT_PROFILING_LAYER_NAMES_ONLY: v = ProfilingVerbosity::kLAYER_NAMES_ONLY; break;
    case TRT_PROFILING_NONE: v = ProfilingVerbosity::kNONE; break;
    case TRT_PROFILING_DETAILED: v = ProfilingVerbosity::kDETAILED; break;
    default: return fail(TRT_ERR_OUT_OF_RANGE, "unknown profiling verbosity");
    }
    OBJ(IBuilderConfig, config)->setProfilingVerbosity(v);
    return TRT_OK;
    SHIM_CATCH
}

trt_status trt_config_set_tactic_sources(trt_config* config, uint32_t mask) {
    CHECK_ARG(config);
    SHIM_TRY
    TacticSources s = 0;
    uint32_t known = 0;
    for (const auto& t : kTacticSources) {
        known |= t.bit;
        if (mask & t.bit) s |= 1U << static_cast<uint32_t>(t.source);
    }
    if (mask & ~known) return fail(TRT_ERR_OUT_OF_RANGE, "unknown tactic source bit");
    if (!OBJ(IBuilderConfig, config)->setTacticSources(s)) return fail(TRT_ERR_TENSORRT, "setTacticSources rejected the mask");
    return TRT_OK;
    SHIM_CATCH
}

trt_status trt_config_get_tactic_sources(trt_config* config, uint32_t* mask) {
    CHECK_ARG(config);
    CHECK_ARG(mask);
    SHIM_TRY
    TacticSources s = OBJ(IBuilderConfig, config)->getTacticSources();
    *mask = 0;
    for (const auto& t : kTacticSources)
        if (s & (1U << static_cast<uint32_t>(t.source))) *mask |= t.bit;
    return TRT_OK;
    SHIM_CATCH
}

trt_status trt_config_add_profile(trt_config* config, trt_profile* profile, int32_t* index) {
    CHECK_ARG(config);
    CHECK_ARG(profile);
    CHECK_ARG(index);
    SHIM_TRY
    int32_t i = OBJ(IBuilderConfig, config)->addOptimizationProfile(OBJ(IOptimizationProfile, profile));
    if (i < 0) return fail(TRT_ERR_TENSORRT, "addOptimizationProfile rejected the profile (is every dynamic input given min/opt/max?)");
    *index = i;
    return TRT_OK;
    SHIM_CATCH
}

trt_status trt_config_set_calibration_profile(trt_config* config, trt_profile* profile) {
    CHECK_ARG(config);
    CHECK_ARG(profile);
#if TRT_IMPLICIT_INT8
    SHIM_TRY
    if (!OBJ(IBuilderConfig, config)->setCalibrationProfile(OBJ(IOptimizationProfile, profile)))
        return fail(TRT_ERR_TENSORRT, "setCalibrationProfile rejected the profile (min, opt and max must be equal)");
    return TRT_OK;
    SHIM_CATCH
#else
    (void)config, (void)profile;
    return removed_in_11("IBuilderConfig::setCalibrationProfile");
#endif
}

trt_status trt_config_set_calibrator(trt_config* config, trt_calibrator* calibrator) {
    CHECK_ARG(config);
#if TRT_IMPLICIT_INT8
    SHIM_TRY
    OBJ(IBuilderConfig, config)->setInt8Calibrator(OBJ(IInt8Calibrator, calibrator));
    return TRT_OK;
    SHIM_CATCH
#else
    (void)config, (void)calibrator;
    return removed_in_11("IBuilderConfig::setInt8Calibrator");
#endif
}

trt_status trt_config_set_algorithm_selector(trt_config* config, trt_algorithm_selector* selector) {
    CHECK_ARG(config);
#if TRT_IMPLICIT_INT8
    SHIM_TRY
    OBJ(IBuilderConfig, config)->setAlgorithmSelector(OBJ(IAlgorithmSelector, selector));
    return TRT_OK;
    SHIM_CATCH
#else
    (void)config, (void)selector;
    return removed_in_11("IBuilderConfig::setAlgorithmSelector");
#endif
}

trt_status trt_config_create_timing_cache(trt_config* config, const void* data, size_t size, trt_timing_cache** out) {
    CHECK_ARG(config);
    CHECK_ARG(out);
    SHIM_TRY
    ITimingCache* c = OBJ(IBuilderConfig, config)->createTimingCache(size ? data : nullptr, data ? size : 0);
    if (!c) return fail(TRT_ERR_TENSORRT, "createTimingCache failed (is the timing cache corrupt or from another TensorRT?)");
    *out = reinterpret_cast<trt_timing_cache*>(c);
    return TRT_OK;
    SHIM_CATCH
}

trt_status trt_config_set_timing_cache(trt_config* config, trt_timing_cache* cache, int32_t ignore_mismatch) {
    CHECK_ARG(config);
    CHECK_ARG(cache);
    SHIM_TRY
    if (!OBJ(IBuilderConfig, config)->setTimingCache(*OBJ(ITimingCache, cache), ignore_mismatch != 0))
        return fail(TRT_ERR_TENSORRT, "setTimingCache rejected the cache (made on another device or TensorRT?)");
    return TRT_OK;
    SHIM_CATCH
}

trt_status trt_timing_cache_serialize(trt_timing_cache* cache, trt_host_memory** out) {
    CHECK_ARG(cache);
    CHECK_ARG(out);
    SHIM_TRY
    IHostMemory* m = OBJ(ITimingCache, cache)->serialize();
    if (!m) return fail(TRT_ERR_TENSORRT, "ITimingCache::serialize failed");
    *out = reinterpret_cast<trt_host_memory*>(m);
    return TRT_OK;
    SHIM_CATCH
}

void trt_timing_cache_destroy(trt_timing_cache* cache) { delete OBJ(ITimingCache, cache); }

trt_status trt_profile_set_dims(trt_profile* profile, const char* input, int32_t selector, const trt_dims* dims) {
    CHECK_ARG(profile);
    CHECK_ARG(input);
    CHECK_ARG(dims);
    SHIM_TRY
    OptProfileSelector s;
    if (!to_trt_selector(selector, s)) return fail(TRT_ERR_OUT_OF_RANGE, "unknown profile selector");
    Dims d;
    if (!to_dims(dims, d)) return fail(TRT_ERR_OUT_OF_RANGE, "too many dimensions");
    if (!OBJ(IOptimizationProfile, profile)->setDimensions(input, s, d))
        return fail(TRT_ERR_TENSORRT, std::string("setDimensions rejected the shape for input '") + input + "'");
    return TRT_OK;
    SHIM_CATCH
}

// ---------- calibrator ----------

trt_status trt_calibrator_create(int32_t algorithm, const trt_calibrator_callbacks* callbacks, trt_calibrator** out) {
    CHECK_ARG(callbacks);
    CHECK_ARG(callbacks->batch_size);
    CHECK_ARG(callbacks->get_batch);
    CHECK_ARG(callbacks->read_cache);
    CHECK_ARG(callbacks->write_cache);
    CHECK_ARG(out);
#if TRT_IMPLICIT_INT8
    SHIM_TRY
    IInt8Calibrator* c = nullptr;
    switch (algorithm) {
    case TRT_CALIBRATION_ENTROPY2: c = new ShimCalibrator<IInt8EntropyCalibrator2>(*callbacks); break;
    case TRT_CALIBRATION_MINMAX: c = new ShimCalibrator<IInt8MinMaxCalibrator>(*callbacks); break;
    default: return fail(TRT_ERR_OUT_OF_RANGE, "unknown calibration algorithm");
    }
    *out = reinterpret_cast<trt_calibrator*>(c);
    return TRT_OK;
    SHIM_CATCH
#else
    (void)algorithm, (void)callbacks, (void)out;
    return removed_in_11("IInt8Calibrator");
#endif
}

#if TRT_IMPLICIT_INT8
void trt_calibrator_destroy(trt_calibrator* calibrator) { delete OBJ(IInt8Calibrator, calibrator); }
#else
void trt_calibrator_destroy(trt_calibrator*) {} /* none can be created */
#endif

trt_status trt_calibrator_vcall_algorithm(trt_calibrator* calibrator, int32_t* out) {
    CHECK_ARG(calibrator);
    CHECK_ARG(out);
#if TRT_IMPLICIT_INT8
    SHIM_TRY
    switch (OBJ(IInt8Calibrator, calibrator)->getAlgorithm()) {
    case CalibrationAlgoType::kENTROPY_CALIBRATION_2: *out = TRT_CALIBRATION_ENTROPY2; break;
    case CalibrationAlgoType::kMINMAX_CALIBRATION: *out = TRT_CALIBRATION_MINMAX; break;
    default: *out = -1; break;
    }
    return TRT_OK;
    SHIM_CATCH
#else
    (void)calibrator, (void)out;
    return removed_in_11("IInt8Calibrator");
#endif
}

#if TRT_IMPLICIT_INT8
COUNT_FN(trt_calibrator_vcall_batch_size, trt_calibrator, calibrator, OBJ(IInt8Calibrator, calibrator)->getBatchSize())
#else
trt_status trt_calibrator_vcall_batch_size(trt_calibrator*, int32_t*) { return removed_in_11("IInt8Calibrator"); }
#endif

trt_status trt_calibrator_vcall_get_batch(
    trt_calibrator* calibrator, void** bindings, const char** names, int32_t nb_bindings, int32_t* out) {
    CHECK_ARG(calibrator);
    CHECK_ARG(out);
#if TRT_IMPLICIT_INT8
    SHIM_TRY
    *out = OBJ(IInt8Calibrator, calibrator)->getBatch(bindings, names, nb_bindings) ? 1 : 0;
    return TRT_OK;
    SHIM_CATCH
#else
    (void)calibrator, (void)bindings, (void)names, (void)nb_bindings, (void)out;
    return removed_in_11("IInt8Calibrator");
#endif
}

trt_status trt_calibrator_vcall_read_cache(trt_calibrator* calibrator, const void** data, size_t* length) {
    CHECK_ARG(calibrator);
    CHECK_ARG(data);
    CHECK_ARG(length);
#if TRT_IMPLICIT_INT8
    SHIM_TRY
    std::size_t len = 0;
    *data = OBJ(IInt8Calibrator, calibrator)->readCalibrationCache(len);
    *length = len;
    return TRT_OK;
    SHIM_CATCH
#else
    (void)calibrator, (void)data, (void)length;
    return removed_in_11("IInt8Calibrator");
#endif
}

trt_status trt_calibrator_vcall_write_cache(trt_calibrator* calibrator, const void* data, size_t length) {
    CHECK_ARG(calibrator);
#if TRT_IMPLICIT_INT8
    SHIM_TRY
    OBJ(IInt8Calibrator, calibrator)->writeCalibrationCache(data, length);
    return TRT_OK;
    SHIM_CATCH
#else
    (void)calibrator, (void)data, (void)length;
    return removed_in_11("IInt8Calibrator");
#endif
}

// ---------- algorithm selector ----------

trt_status trt_algorithm_selector_create(const trt_algorithm_selector_callbacks* callbacks, trt_algorithm_selector** out) {
    CHECK_ARG(callbacks);
    CHECK_ARG(callbacks->select);
    CHECK_ARG(callbacks->report);
    CHECK_ARG(out);
#if TRT_IMPLICIT_INT8
    SHIM_TRY
    *out = reinterpret_cast<trt_algorithm_selector*>(static_cast<IAlgorithmSelector*>(new ShimAlgorithmSelector(*callbacks)));
    return TRT_OK;
    SHIM_CATCH
#else
    (void)callbacks, (void)out;
    return removed_in_11("IAlgorithmSelector");
#endif
}

#if TRT_IMPLICIT_INT8
void trt_algorithm_selector_destroy(trt_algorithm_selector* selector) { delete OBJ(IAlgorithmSelector, selector); }
#else
void trt_algorithm_selector_destroy(trt_algorithm_selector*) {} /* none can be created */
#endif

// ---------- runtime and engine ----------

trt_status trt_runtime_create(trt_factory_fn create_runtime, trt_logger* logger, trt_runtime** out) {
    CHECK_ARG(create_runtime);
    CHECK_ARG(logger);
    CHECK_ARG(out);
    SHIM_TRY
    void* r = create_runtime(static_cast<void*>(OBJ(ILogger, logger)), NV_TENSORRT_VERSION);
    if (factory_failed(r)) return fail(TRT_ERR_TENSORRT, "createInferRuntime failed (see the TensorRT log)");
    *out = reinterpret_cast<trt_runtime*>(static_cast<IRuntime*>(r));
    return TRT_OK;
    SHIM_CATCH
}

void trt_runtime_destroy(trt_runtime* runtime) { delete OBJ(IRuntime, runtime); }

trt_status trt_runtime_set_engine_host_code_allowed(trt_runtime* runtime, int32_t allowed) {
    CHECK_ARG(runtime);
    SHIM_TRY
#if TRT_AT_LEAST(8, 6)
    OBJ(IRuntime, runtime)->setEngineHostCodeAllowed(allowed != 0);
    return TRT_OK;
#else
    (void)allowed;
    return fail(TRT_ERR_UNSUPPORTED, "engine host code (version-compatible plans) needs TensorRT 8.6 or later");
#endif
    SHIM_CATCH
}

trt_status trt_runtime_deserialize(trt_runtime* runtime, const void* data, size_t size, trt_engine** out) {
    CHECK_ARG(runtime);
    CHECK_ARG(data);
    CHECK_ARG(out);
    SHIM_TRY
    ICudaEngine* e = OBJ(IRuntime, runtime)->deserializeCudaEngine(data, size);
    if (!e) return fail(TRT_ERR_TENSORRT, "deserializeCudaEngine failed: the engine is corrupt, truncated, or was built by another TensorRT version or for another GPU (see the TensorRT log)");
    *out = reinterpret_cast<trt_engine*>(e);
    return TRT_OK;
    SHIM_CATCH
}

void trt_engine_destroy(trt_engine* engine) { delete OBJ(ICudaEngine, engine); }

COUNT_FN(trt_engine_nb_io_tensors, trt_engine, engine, OBJ(ICudaEngine, engine)->getNbIOTensors())
COUNT_FN(trt_engine_nb_layers, trt_engine, engine, OBJ(ICudaEngine, engine)->getNbLayers())
COUNT_FN(trt_engine_nb_profiles, trt_engine, engine, OBJ(ICudaEngine, engine)->getNbOptimizationProfiles())

trt_status trt_engine_io_tensor_name(trt_engine* engine, int32_t index, const char** out) {
    CHECK_ARG(engine);
    CHECK_ARG(out);
    SHIM_TRY
    if (index < 0 || index >= OBJ(ICudaEngine, engine)->getNbIOTensors()) return fail(TRT_ERR_OUT_OF_RANGE, "I/O tensor index out of range");
    *out = OBJ(ICudaEngine, engine)->getIOTensorName(index);
    return TRT_OK;
    SHIM_CATCH
}

trt_status trt_engine_tensor_mode(trt_engine* engine, const char* name, int32_t* out) {
    CHECK_ARG(engine);
    CHECK_ARG(name);
    CHECK_ARG(out);
    SHIM_TRY
    switch (OBJ(ICudaEngine, engine)->getTensorIOMode(name)) {
    case TensorIOMode::kINPUT: *out = TRT_IO_INPUT; break;
    case TensorIOMode::kOUTPUT: *out = TRT_IO_OUTPUT; break;
    default: *out = TRT_IO_NONE; break;
    }
    return TRT_OK;
    SHIM_CATCH
}

trt_status trt_engine_tensor_shape(trt_engine* engine, const char* name, trt_dims* out) {
    CHECK_ARG(engine);
    CHECK_ARG(name);
    CHECK_ARG(out);
    SHIM_TRY
    from_dims(OBJ(ICudaEngine, engine)->getTensorShape(name), out);
    return TRT_OK;
    SHIM_CATCH
}

trt_status trt_engine_tensor_type(trt_engine* engine, const char* name, int32_t* out) {
    CHECK_ARG(engine);
    CHECK_ARG(name);
    CHECK_ARG(out);
    SHIM_TRY
    *out = from_trt_type(OBJ(ICudaEngine, engine)->getTensorDataType(name));
    return TRT_OK;
    SHIM_CATCH
}

trt_status trt_engine_profile_shape(trt_engine* engine, const char* name, int32_t profile, int32_t selector, trt_dims* out) {
    CHECK_ARG(engine);
    CHECK_ARG(name);
    CHECK_ARG(out);
    SHIM_TRY
    OptProfileSelector s;
    if (!to_trt_selector(selector, s)) return fail(TRT_ERR_OUT_OF_RANGE, "unknown profile selector");
    from_dims(OBJ(ICudaEngine, engine)->getProfileShape(name, profile, s), out);
    return TRT_OK;
    SHIM_CATCH
}

trt_status trt_engine_serialize(trt_engine* engine, trt_host_memory** out) {
    CHECK_ARG(engine);
    CHECK_ARG(out);
    SHIM_TRY
    IHostMemory* m = OBJ(ICudaEngine, engine)->serialize();
    if (!m) return fail(TRT_ERR_TENSORRT, "ICudaEngine::serialize failed");
    *out = reinterpret_cast<trt_host_memory*>(m);
    return TRT_OK;
    SHIM_CATCH
}

trt_status trt_engine_inspect_json(trt_engine* engine, char** out) {
    CHECK_ARG(engine);
    CHECK_ARG(out);
    SHIM_TRY
    IEngineInspector* insp = OBJ(ICudaEngine, engine)->createEngineInspector();
    if (!insp) return fail(TRT_ERR_TENSORRT, "createEngineInspector failed");
    const char* json = insp->getEngineInformation(LayerInformationFormat::kJSON);
    char* copy = json ? strdup(json) : nullptr;
    delete insp;
    if (!copy) return fail(TRT_ERR_TENSORRT, "getEngineInformation returned nothing");
    *out = copy;
    return TRT_OK;
    SHIM_CATCH
}

void trt_string_free(char* s) { std::free(s); }

trt_status trt_engine_create_context(trt_engine* engine, trt_context** out) {
    CHECK_ARG(engine);
    CHECK_ARG(out);
    SHIM_TRY
    IExecutionContext* c = OBJ(ICudaEngine, engine)->createExecutionContext();
    if (!c) return fail(TRT_ERR_TENSORRT, "createExecutionContext failed (out of device memory?)");
    *out = reinterpret_cast<trt_context*>(c);
    return TRT_OK;
    SHIM_CATCH
}

void trt_context_destroy(trt_context* context) { delete OBJ(IExecutionContext, context); }

trt_status trt_context_set_input_shape(trt_context* context, const char* name, const trt_dims* dims) {
    CHECK_ARG(context);
    CHECK_ARG(name);
    CHECK_ARG(dims);
    SHIM_TRY
    Dims d;
    if (!to_dims(dims, d)) return fail(TRT_ERR_OUT_OF_RANGE, "too many dimensions");
    if (!OBJ(IExecutionContext, context)->setInputShape(name, d))
        return fail(TRT_ERR_TENSORRT, std::string("setInputShape rejected the shape of '") + name + "' (outside the optimization profile?)");
    return TRT_OK;
    SHIM_CATCH
}

trt_status trt_context_tensor_shape(trt_context* context, const char* name, trt_dims* out) {
    CHECK_ARG(context);
    CHECK_ARG(name);
    CHECK_ARG(out);
    SHIM_TRY
    from_dims(OBJ(IExecutionContext, context)->getTensorShape(name), out);
    return TRT_OK;
    SHIM_CATCH
}

trt_status trt_context_set_tensor_address(trt_context* context, const char* name, void* address) {
    CHECK_ARG(context);
    CHECK_ARG(name);
    SHIM_TRY
    if (!OBJ(IExecutionContext, context)->setTensorAddress(name, address))
        return fail(TRT_ERR_TENSORRT, std::string("setTensorAddress rejected '") + name + "'");
    return TRT_OK;
    SHIM_CATCH
}

trt_status trt_context_set_profile(trt_context* context, int32_t profile, void* stream) {
    CHECK_ARG(context);
    SHIM_TRY
    if (!OBJ(IExecutionContext, context)->setOptimizationProfileAsync(profile, static_cast<cudaStream_t>(stream)))
        return fail(TRT_ERR_TENSORRT, "setOptimizationProfileAsync failed");
    return TRT_OK;
    SHIM_CATCH
}

trt_status trt_context_enqueue(trt_context* context, void* stream) {
    CHECK_ARG(context);
    SHIM_TRY
    if (!OBJ(IExecutionContext, context)->enqueueV3(static_cast<cudaStream_t>(stream)))
        return fail(TRT_ERR_TENSORRT, "enqueueV3 failed (are all input shapes and tensor addresses set? see the TensorRT log)");
    return TRT_OK;
    SHIM_CATCH
}

} // extern "C"
