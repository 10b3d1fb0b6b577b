// File: learner/model/kernel_element_type.h
//
// The element types perennial's CUDA kernels (*_kernels.cu) take, named without LibTorch or
// CUDA headers so that both sides of a kernel can include it.
#ifndef PERENNIAL_LEARNER_MODEL_KERNEL_ELEMENT_TYPE_H_
#define PERENNIAL_LEARNER_MODEL_KERNEL_ELEMENT_TYPE_H_

namespace perennial::cuda_kernels {

enum class ElementType { kFloat32, kFloat16, kBFloat16 };

}  // namespace perennial::cuda_kernels

#endif  // PERENNIAL_LEARNER_MODEL_KERNEL_ELEMENT_TYPE_H_
