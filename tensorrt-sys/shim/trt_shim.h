/*
 * trt_shim.h: a plain-C face for the TensorRT C++ API (8.5 through 10.x).
 *
 * Conventions
 * - Opaque handles; every `_create` has a `_destroy` (destroy accepts NULL).
 * - Every call returns a trt_status; results go through out-pointers. On failure the
 *   message waits in a thread-local: read it with trt_last_error() right after the
 *   failing call, then trt_clear_last_error().
 * - Nothing here links against TensorRT: factories are handed in as function pointers
 *   that the caller resolved from libnvinfer / libnvonnxparser at run time.
 * - Enums are our own (TRT_*), mapped to TensorRT's by name inside the shim, because
 *   TensorRT renumbers them between major versions (BuilderFlag, LayerType).
 * - Strings returned by the shim are owned by the object they came from and live as
 *   long as it does, unless said otherwise.
 */
#ifndef TRT_SHIM_H
#define TRT_SHIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------- status and errors ---------- */

typedef int32_t trt_status;
#define TRT_OK 0
#define TRT_ERR_NULL_ARGUMENT 1
#define TRT_ERR_TENSORRT 2 /* TensorRT returned a failure (false / null) */
#define TRT_ERR_EXCEPTION 3 /* a C++ exception was caught */
#define TRT_ERR_OUT_OF_RANGE 4
#define TRT_ERR_UNSUPPORTED 5 /* not available in the TensorRT version the shim was built against */

/* The message of the last failing call on this thread ("" when none). Valid until the next shim call. */
const char* trt_last_error(void);
void trt_clear_last_error(void);

/* TensorRT version of the headers the shim was compiled against. */
void trt_header_version(int32_t* major, int32_t* minor, int32_t* patch);

/* ---------- shared types ---------- */

#define TRT_MAX_DIMS 8
typedef struct trt_dims {
    int32_t nb_dims;
    int64_t d[TRT_MAX_DIMS];
} trt_dims;

typedef enum trt_data_type {
    TRT_DATA_TYPE_FLOAT = 0,
    TRT_DATA_TYPE_HALF = 1,
    TRT_DATA_TYPE_INT8 = 2,
    TRT_DATA_TYPE_INT32 = 3,
    TRT_DATA_TYPE_BOOL = 4,
    TRT_DATA_TYPE_UINT8 = 5,
    TRT_DATA_TYPE_FP8 = 6,
    TRT_DATA_TYPE_BF16 = 7,
    TRT_DATA_TYPE_INT64 = 8,
    TRT_DATA_TYPE_INT4 = 9,
    TRT_DATA_TYPE_UNKNOWN = 255
} trt_data_type;

typedef enum trt_severity {
    TRT_SEVERITY_INTERNAL_ERROR = 0,
    TRT_SEVERITY_ERROR = 1,
    TRT_SEVERITY_WARNING = 2,
    TRT_SEVERITY_INFO = 3,
    TRT_SEVERITY_VERBOSE = 4
} trt_severity;

/* A TensorRT factory entry point as exported by the library, e.g. createInferBuilder_INTERNAL. */
typedef void* (*trt_factory_fn)(void* logger, int32_t version);
/* createNvOnnxParser_INTERNAL */
typedef void* (*trt_parser_factory_fn)(void* network, void* logger, int32_t version);

/* ---------- logger ---------- */

typedef struct trt_logger trt_logger;
/* Called from any TensorRT thread; msg may be NULL. */
typedef void (*trt_log_fn)(void* user_data, int32_t severity, const char* msg);

trt_status trt_logger_create(trt_log_fn callback, void* user_data, trt_logger** out);
void trt_logger_destroy(trt_logger* logger);
/* Call the logger through its nvinfer1::ILogger vtable, exactly as TensorRT does (for tests). */
trt_status trt_logger_vcall_log(trt_logger* logger, int32_t severity, const char* msg);

/* ---------- builder, network, ONNX parser ---------- */

typedef struct trt_builder trt_builder;
typedef struct trt_network trt_network;
typedef struct trt_parser trt_parser;
typedef struct trt_config trt_config;
typedef struct trt_profile trt_profile; /* owned by the builder */
typedef struct trt_layer trt_layer;     /* owned by the network */
typedef struct trt_tensor trt_tensor;   /* owned by the network */
typedef struct trt_host_memory trt_host_memory;

trt_status trt_builder_create(trt_factory_fn create_builder, trt_logger* logger, trt_builder** out);
void trt_builder_destroy(trt_builder* builder);
trt_status trt_builder_platform_has_fast_int8(trt_builder* builder, int32_t* out);
/* An explicit-batch network. */
trt_status trt_builder_create_network(trt_builder* builder, trt_network** out);
trt_status trt_builder_create_config(trt_builder* builder, trt_config** out);
trt_status trt_builder_create_profile(trt_builder* builder, trt_profile** out);
trt_status trt_builder_build_serialized(
    trt_builder* builder, trt_network* network, trt_config* config, trt_host_memory** out);

trt_status trt_host_memory_data(trt_host_memory* mem, const void** data, size_t* size);
void trt_host_memory_destroy(trt_host_memory* mem);

trt_status trt_parser_create(
    trt_parser_factory_fn create_parser, trt_network* network, trt_logger* logger, trt_parser** out);
void trt_parser_destroy(trt_parser* parser);
/* parse_ok is 0 when the model was rejected; the errors are then listed by trt_parser_error. */
trt_status trt_parser_parse(trt_parser* parser, const void* data, size_t size, const char* model_path, int32_t* parse_ok);
trt_status trt_parser_parse_file(trt_parser* parser, const char* path, int32_t* parse_ok);
trt_status trt_parser_nb_errors(trt_parser* parser, int32_t* out);
/* node is -1 when the error is not tied to a node. desc is owned by the parser. */
trt_status trt_parser_error(trt_parser* parser, int32_t index, int32_t* code, int32_t* node, const char** desc);

void trt_network_destroy(trt_network* network);
trt_status trt_network_nb_inputs(trt_network* network, int32_t* out);
trt_status trt_network_input(trt_network* network, int32_t index, trt_tensor** out);
trt_status trt_network_nb_outputs(trt_network* network, int32_t* out);
trt_status trt_network_output(trt_network* network, int32_t index, trt_tensor** out);
trt_status trt_network_nb_layers(trt_network* network, int32_t* out);
trt_status trt_network_layer(trt_network* network, int32_t index, trt_layer** out);
/* Marks a tensor of the network as a network output (appended to the outputs); unmark takes
   that mark off again (the tensor stays in the network). Both fail when TensorRT did not change
   the tensor's output status (e.g. unmarking a tensor that is not an output). */
trt_status trt_network_mark_output(trt_network* network, trt_tensor* tensor);
trt_status trt_network_unmark_output(trt_network* network, trt_tensor* tensor);

trt_status trt_tensor_name(trt_tensor* tensor, const char** out);
trt_status trt_tensor_dims(trt_tensor* tensor, trt_dims* out);
trt_status trt_tensor_type(trt_tensor* tensor, int32_t* out);
trt_status trt_tensor_set_dynamic_range(trt_tensor* tensor, float min, float max);

/* Layer type names are TensorRT's enumerator names without the k: "CONVOLUTION", "CONSTANT", ... */
trt_status trt_layer_name(trt_layer* layer, const char** out);
trt_status trt_layer_type(trt_layer* layer, const char** out);
trt_status trt_layer_precision(trt_layer* layer, int32_t* out);
trt_status trt_layer_precision_is_set(trt_layer* layer, int32_t* out);
trt_status trt_layer_set_precision(trt_layer* layer, int32_t data_type);
trt_status trt_layer_reset_precision(trt_layer* layer);
trt_status trt_layer_nb_inputs(trt_layer* layer, int32_t* out);
/* *out is NULL for an optional input that is absent. */
trt_status trt_layer_input(trt_layer* layer, int32_t index, trt_tensor** out);
trt_status trt_layer_nb_outputs(trt_layer* layer, int32_t* out);
trt_status trt_layer_output(trt_layer* layer, int32_t index, trt_tensor** out);
trt_status trt_layer_output_type(trt_layer* layer, int32_t index, int32_t* out);
trt_status trt_layer_set_output_type(trt_layer* layer, int32_t index, int32_t data_type);
trt_status trt_layer_reset_output_type(trt_layer* layer, int32_t index);
/* The largest |value| of a CONSTANT layer's weights and their number, for FLOAT and HALF
   weights; TRT_ERR_UNSUPPORTED for another layer type or weight type. */
trt_status trt_layer_constant_absmax(trt_layer* layer, float* absmax, int64_t* count);

/* ---------- builder config ---------- */

typedef enum trt_builder_flag {
    TRT_FLAG_FP16 = 0,
    TRT_FLAG_INT8 = 1,
    TRT_FLAG_OBEY_PRECISION_CONSTRAINTS = 2,
    TRT_FLAG_PREFER_PRECISION_CONSTRAINTS = 3,
    TRT_FLAG_DIRECT_IO = 4,
    TRT_FLAG_REJECT_EMPTY_ALGORITHMS = 5,
    TRT_FLAG_DISABLE_TIMING_CACHE = 6,
    TRT_FLAG_TF32 = 7,
    TRT_FLAG_GPU_FALLBACK = 8,
    TRT_FLAG_VERSION_COMPATIBLE = 9, /* 8.6+ */
    TRT_FLAG_EXCLUDE_LEAN_RUNTIME = 10 /* 8.6+: a version-compatible plan without the lean runtime */
} trt_builder_flag;

typedef enum trt_profiling_verbosity {
    TRT_PROFILING_LAYER_NAMES_ONLY = 0,
    TRT_PROFILING_NONE = 1,
    TRT_PROFILING_DETAILED = 2
} trt_profiling_verbosity;

/* Bits of a tactic-source mask (our own numbering). */
#define TRT_TACTIC_CUBLAS (1u << 0)
#define TRT_TACTIC_CUBLAS_LT (1u << 1)
#define TRT_TACTIC_CUDNN (1u << 2)
#define TRT_TACTIC_EDGE_MASK_CONVOLUTIONS (1u << 3)
#define TRT_TACTIC_JIT_CONVOLUTIONS (1u << 4)

typedef struct trt_timing_cache trt_timing_cache;
typedef struct trt_calibrator trt_calibrator;
typedef struct trt_algorithm_selector trt_algorithm_selector;

void trt_config_destroy(trt_config* config);
trt_status trt_config_set_flag(trt_config* config, int32_t flag, int32_t on);
trt_status trt_config_get_flag(trt_config* config, int32_t flag, int32_t* out);
trt_status trt_config_set_workspace_limit(trt_config* config, uint64_t bytes);
trt_status trt_config_set_profiling_verbosity(trt_config* config, int32_t verbosity);
trt_status trt_config_set_tactic_sources(trt_config* config, uint32_t mask);
trt_status trt_config_get_tactic_sources(trt_config* config, uint32_t* mask);
trt_status trt_config_add_profile(trt_config* config, trt_profile* profile, int32_t* index);
trt_status trt_config_set_calibration_profile(trt_config* config, trt_profile* profile);
/* The calibrator must outlive the build. NULL removes it. */
trt_status trt_config_set_calibrator(trt_config* config, trt_calibrator* calibrator);
trt_status trt_config_set_algorithm_selector(trt_config* config, trt_algorithm_selector* selector);
/* From serialized bytes (data may be NULL / size 0 for an empty cache). */
trt_status trt_config_create_timing_cache(trt_config* config, const void* data, size_t size, trt_timing_cache** out);
trt_status trt_config_set_timing_cache(trt_config* config, trt_timing_cache* cache, int32_t ignore_mismatch);
/* Hardware compatibility (TensorRT 8.6+): 0 none, 1 Ampere and later, 2 same compute capability
 * (10.x headers that have it). TRT_ERR_UNSUPPORTED when these headers lack the level. */
typedef enum trt_hardware_compatibility {
    TRT_HW_COMPAT_NONE = 0,
    TRT_HW_COMPAT_AMPERE_PLUS = 1,
    TRT_HW_COMPAT_SAME_COMPUTE_CAPABILITY = 2
} trt_hardware_compatibility;
trt_status trt_config_set_hardware_compatibility(trt_config* config, int32_t level);
trt_status trt_timing_cache_serialize(trt_timing_cache* cache, trt_host_memory** out);
void trt_timing_cache_destroy(trt_timing_cache* cache);

typedef enum trt_profile_selector { TRT_PROFILE_MIN = 0, TRT_PROFILE_OPT = 1, TRT_PROFILE_MAX = 2 } trt_profile_selector;
trt_status trt_profile_set_dims(trt_profile* profile, const char* input, int32_t selector, const trt_dims* dims);

/* ---------- INT8 calibrator ---------- */

typedef enum trt_calibration_algorithm {
    TRT_CALIBRATION_ENTROPY2 = 0,
    TRT_CALIBRATION_MINMAX = 1
} trt_calibration_algorithm;

/* Callbacks of a calibrator. Each runs on the thread that called build. They must not unwind. */
typedef struct trt_calibrator_callbacks {
    void* user_data;
    int32_t (*batch_size)(void* user_data);
    /* Fill bindings[i] (device pointers) for the input named names[i]; return 1 when a batch was
     * written, 0 at the end of the data or on failure. */
    int32_t (*get_batch)(void* user_data, void** bindings, const char** names, int32_t nb_bindings);
    /* Return a pointer to the cache (kept alive by the callee) and its length, or NULL. */
    const void* (*read_cache)(void* user_data, size_t* length);
    void (*write_cache)(void* user_data, const void* data, size_t length);
} trt_calibrator_callbacks;

trt_status trt_calibrator_create(int32_t algorithm, const trt_calibrator_callbacks* callbacks, trt_calibrator** out);
void trt_calibrator_destroy(trt_calibrator* calibrator);
/* Calls through the nvinfer1::IInt8Calibrator vtable, exactly as TensorRT does (for tests). */
trt_status trt_calibrator_vcall_algorithm(trt_calibrator* calibrator, int32_t* out);
trt_status trt_calibrator_vcall_batch_size(trt_calibrator* calibrator, int32_t* out);
trt_status trt_calibrator_vcall_get_batch(
    trt_calibrator* calibrator, void** bindings, const char** names, int32_t nb_bindings, int32_t* out);
trt_status trt_calibrator_vcall_read_cache(trt_calibrator* calibrator, const void** data, size_t* length);
trt_status trt_calibrator_vcall_write_cache(trt_calibrator* calibrator, const void* data, size_t length);

/* ---------- algorithm selector (record and replay tactics) ---------- */

typedef struct trt_algorithm_choice {
    int64_t implementation;
    int64_t tactic;
    float timing_ms;
    uint64_t workspace;
} trt_algorithm_choice;

typedef struct trt_algorithm_selector_callbacks {
    void* user_data;
    /* Choose among choices for the layer named `layer`: write indices into selection, return how many
     * (0 = let TensorRT choose). */
    int32_t (*select)(void* user_data, const char* layer, const trt_algorithm_choice* choices, int32_t nb_choices,
        int32_t* selection);
    /* What TensorRT finally picked for each layer (called once per optimization profile). */
    void (*report)(void* user_data, const char* const* layers, const trt_algorithm_choice* choices, int32_t nb);
} trt_algorithm_selector_callbacks;

trt_status trt_algorithm_selector_create(const trt_algorithm_selector_callbacks* callbacks, trt_algorithm_selector** out);
void trt_algorithm_selector_destroy(trt_algorithm_selector* selector);

/* ---------- runtime, engine, inspector, execution context ---------- */

typedef struct trt_runtime trt_runtime;
typedef struct trt_engine trt_engine;
typedef struct trt_context trt_context;

typedef enum trt_io_mode { TRT_IO_NONE = 0, TRT_IO_INPUT = 1, TRT_IO_OUTPUT = 2 } trt_io_mode;

trt_status trt_runtime_create(trt_factory_fn create_runtime, trt_logger* logger, trt_runtime** out);
void trt_runtime_destroy(trt_runtime* runtime);
/* Version-compatible plans carry host code (the lean runtime): TensorRT 8.6+ runs it only when
 * allowed. TRT_ERR_UNSUPPORTED with older headers. */
trt_status trt_runtime_set_engine_host_code_allowed(trt_runtime* runtime, int32_t allowed);
trt_status trt_runtime_deserialize(trt_runtime* runtime, const void* data, size_t size, trt_engine** out);

void trt_engine_destroy(trt_engine* engine);
trt_status trt_engine_nb_io_tensors(trt_engine* engine, int32_t* out);
trt_status trt_engine_io_tensor_name(trt_engine* engine, int32_t index, const char** out);
trt_status trt_engine_tensor_mode(trt_engine* engine, const char* name, int32_t* out);
trt_status trt_engine_tensor_shape(trt_engine* engine, const char* name, trt_dims* out);
trt_status trt_engine_tensor_type(trt_engine* engine, const char* name, int32_t* out);
trt_status trt_engine_nb_layers(trt_engine* engine, int32_t* out);
trt_status trt_engine_nb_profiles(trt_engine* engine, int32_t* out);
trt_status trt_engine_profile_shape(
    trt_engine* engine, const char* name, int32_t profile, int32_t selector, trt_dims* out);
trt_status trt_engine_serialize(trt_engine* engine, trt_host_memory** out);
/* The inspector's JSON for the whole engine. *out is malloc'd; free it with trt_string_free. */
trt_status trt_engine_inspect_json(trt_engine* engine, char** out);
void trt_string_free(char* s);

trt_status trt_engine_create_context(trt_engine* engine, trt_context** out);
void trt_context_destroy(trt_context* context);
trt_status trt_context_set_input_shape(trt_context* context, const char* name, const trt_dims* dims);
trt_status trt_context_tensor_shape(trt_context* context, const char* name, trt_dims* out);
trt_status trt_context_set_tensor_address(trt_context* context, const char* name, void* address);
trt_status trt_context_set_profile(trt_context* context, int32_t profile, void* stream);
/* stream is a cudaStream_t (== CUstream). */
trt_status trt_context_enqueue(trt_context* context, void* stream);

#ifdef __cplusplus
}
#endif

#endif /* TRT_SHIM_H */
