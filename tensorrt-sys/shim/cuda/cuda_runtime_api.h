/* Fallback used only when no CUDA toolkit headers are found: TensorRT's headers need just these two
 * handle types from CUDA (they are the driver's CUstream / CUevent). */
#ifndef TRT_SHIM_CUDA_RUNTIME_API_FALLBACK_H
#define TRT_SHIM_CUDA_RUNTIME_API_FALLBACK_H
typedef struct CUstream_st* cudaStream_t;
typedef struct CUevent_st* cudaEvent_t;
#endif
