# The library's floors, lowest first: one target per folder of src/, each seeing only its own headers and those of
# the floors below it. A floor's include path holds exactly that: build/floors/<floor>/ has a symlink to its source
# folder and one to each public header (include/resnet/) it owns, and a floor links the floor below it, whose
# include path it inherits. So `#include "infer/program.h"` in src/models/ fails to compile: a wrong-way include is
# a build error, not a review comment.
#
#   core -> dnnl -> nn -> models -> io -> data -> train -> infer -> export -> cli (the tool, on top)
#
# oneDNN is linked into two floors only: dnnl (the training ops) and infer (the plan's back end, src/infer/onednn/);
# a header that includes <dnnl.hpp> cannot be used above them.

set(RESNET_FLOORS core dnnl nn models io data train infer export)

# The public headers each floor implements.
set(RESNET_PUBLIC_HEADERS_core tensor.h error.h)
set(RESNET_PUBLIC_HEADERS_dnnl)
set(RESNET_PUBLIC_HEADERS_nn module.h load_state_dict.h)
set(RESNET_PUBLIC_HEADERS_models model.h zoo.h unet.h)
set(RESNET_PUBLIC_HEADERS_io image.h npy.h weights.h)
set(RESNET_PUBLIC_HEADERS_data data.h segmentation_data.h)
set(RESNET_PUBLIC_HEADERS_train loss.h optim.h pretrained.h grad_cam.h train.h segmentation_loss.h)
set(RESNET_PUBLIC_HEADERS_infer plan.h calibration.h int8_weights.h predict.h)
set(RESNET_PUBLIC_HEADERS_export onnx_export.h)

# Libraries each floor's code uses besides the floors below and the common ones (usage requirements only: the
# objects are linked once, into libresnet).
set(RESNET_FLOOR_DEPS_core)
set(RESNET_FLOOR_DEPS_dnnl DNNL::dnnl)
set(RESNET_FLOOR_DEPS_nn)
set(RESNET_FLOOR_DEPS_models)
set(RESNET_FLOOR_DEPS_io ZLIB::ZLIB PNG::PNG JPEG::JPEG PkgConfig::LIBZIP)
set(RESNET_FLOOR_DEPS_data)
set(RESNET_FLOOR_DEPS_train PkgConfig::CAIRO ${RESNET_MPI_LIBS})
set(RESNET_FLOOR_DEPS_infer DNNL::dnnl)
set(RESNET_FLOOR_DEPS_export onnx onnx_proto protobuf::libprotobuf)  # Debian's libonnx-dev: the ONNX protobuf classes
set(RESNET_FLOOR_COMMON_DEPS fmt::fmt nlohmann_json::nlohmann_json OpenMP::OpenMP_CXX)

# Every header of include/resnet/ belongs to exactly one floor.
file(GLOB RESNET_ALL_PUBLIC_HEADERS RELATIVE ${PROJECT_SOURCE_DIR}/include/resnet ${PROJECT_SOURCE_DIR}/include/resnet/*.h)
set(RESNET_OWNED_HEADERS)
foreach(floor IN LISTS RESNET_FLOORS)
  list(APPEND RESNET_OWNED_HEADERS ${RESNET_PUBLIC_HEADERS_${floor}})
endforeach()
foreach(header IN LISTS RESNET_ALL_PUBLIC_HEADERS)
  if(NOT header IN_LIST RESNET_OWNED_HEADERS)
    message(FATAL_ERROR "include/resnet/${header} belongs to no floor: add it to a RESNET_PUBLIC_HEADERS_* list in cmake/floors.cmake")
  endif()
endforeach()

# resnet_<floor>_headers: the floor's include path (its own and, through the link, every lower floor's).
# resnet_<floor>: its objects.
set(RESNET_FLOOR_OBJECT_TARGETS)
set(below "")
foreach(floor IN LISTS RESNET_FLOORS)
  set(view ${PROJECT_BINARY_DIR}/floors/${floor})
  file(REMOVE_RECURSE ${view})
  file(MAKE_DIRECTORY ${view}/resnet)
  file(CREATE_LINK ${PROJECT_SOURCE_DIR}/src/${floor} ${view}/${floor} SYMBOLIC)
  foreach(header IN LISTS RESNET_PUBLIC_HEADERS_${floor})
    file(CREATE_LINK ${PROJECT_SOURCE_DIR}/include/resnet/${header} ${view}/resnet/${header} SYMBOLIC)
  endforeach()
  add_library(resnet_${floor}_headers INTERFACE)
  target_include_directories(resnet_${floor}_headers INTERFACE ${view})
  if(below)
    target_link_libraries(resnet_${floor}_headers INTERFACE resnet_${below}_headers)
  endif()

  file(GLOB_RECURSE sources CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/${floor}/*.cpp)
  # The communicator of src/train/distributed.h: MPI's when CMake found MPI, else the single-process one.
  if(RESNET_MPI_LIBS)
    list(FILTER sources EXCLUDE REGEX "/distributed/no_mpi\\.cpp$")
  else()
    list(FILTER sources EXCLUDE REGEX "/distributed/mpi_communicator\\.cpp$")
  endif()
  add_library(resnet_${floor} OBJECT ${sources})
  target_compile_features(resnet_${floor} PUBLIC cxx_std_20)
  target_compile_options(resnet_${floor} PRIVATE ${RESNET_WARNINGS})
  target_link_libraries(resnet_${floor} PUBLIC resnet_${floor}_headers
                                        PRIVATE ${RESNET_FLOOR_DEPS_${floor}} ${RESNET_FLOOR_COMMON_DEPS})
  list(APPEND RESNET_FLOOR_OBJECT_TARGETS resnet_${floor})
  set(below ${floor})
endforeach()

# The tool's floor: everything below, and its own folder.
set(view ${PROJECT_BINARY_DIR}/floors/cli)
file(REMOVE_RECURSE ${view})
file(MAKE_DIRECTORY ${view})
file(CREATE_LINK ${PROJECT_SOURCE_DIR}/src/cli ${view}/cli SYMBOLIC)
add_library(resnet_cli_headers INTERFACE)
target_include_directories(resnet_cli_headers INTERFACE ${view})
target_link_libraries(resnet_cli_headers INTERFACE resnet_${below}_headers)
