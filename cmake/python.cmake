# The Python module `resnet_cpp` (python/: nanobind bindings over libresnet), docs/PYTHON.md.
#
# Two builds make it:
#   - `pip install .` (pyproject.toml, scikit-build-core): SKBUILD is set, nanobind comes from the build's
#     requirements, and only the `python` install component goes into the wheel: the package folder with the
#     module, libresnet and (when it came from .deps/) the oneDNN library, all found through RPATH $ORIGIN.
#   - the ordinary build: RESNET_PYTHON is ON when nanobind is found in .deps/py-venv (scripts/python_venv.sh,
#     run by bootstrap), so `make test` tests the module against the same libresnet, with no second build. The
#     package folder is assembled in <build>/python/resnet_cpp (PYTHONPATH=<build>/python).
set(RESNET_PYTHON_VENV ${PROJECT_SOURCE_DIR}/.deps/py-venv/bin/python)
if(NOT SKBUILD AND NOT DEFINED Python_EXECUTABLE AND EXISTS ${RESNET_PYTHON_VENV})
  set(Python_EXECUTABLE ${RESNET_PYTHON_VENV})  # Debian's python3 in a venv that holds nanobind
endif()
set(RESNET_PYTHON_DEFAULT OFF)
if(SKBUILD)
  set(RESNET_PYTHON_DEFAULT ON)
elseif(NOT RESNET_ASAN AND NOT RESNET_TSAN AND DEFINED Python_EXECUTABLE)
  # A sanitized libresnet cannot be loaded by a plain python: no module in those builds.
  execute_process(COMMAND ${Python_EXECUTABLE} -m nanobind --cmake_dir OUTPUT_VARIABLE nanobind_dir
                  OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE nanobind_status)
  if(nanobind_status EQUAL 0)
    set(nanobind_DIR ${nanobind_dir} CACHE PATH "nanobind's CMake folder")
    set(RESNET_PYTHON_DEFAULT ON)
  endif()
endif()
option(RESNET_PYTHON "Build the Python module resnet_cpp (needs nanobind)" ${RESNET_PYTHON_DEFAULT})
if(NOT RESNET_PYTHON)
  return()
endif()

find_package(Python 3.9 REQUIRED COMPONENTS Interpreter Development.Module)
find_package(nanobind CONFIG REQUIRED)

set(RESNET_PYTHON_PACKAGE_DIR ${PROJECT_BINARY_DIR}/python/resnet_cpp)
file(GLOB RESNET_PYTHON_SOURCES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/python/src/*.cpp)
nanobind_add_module(resnet_python ${RESNET_PYTHON_SOURCES})
set_target_properties(resnet_python PROPERTIES OUTPUT_NAME _core LIBRARY_OUTPUT_DIRECTORY ${RESNET_PYTHON_PACKAGE_DIR}
                                               INSTALL_RPATH "$ORIGIN" BUILD_RPATH "$<TARGET_FILE_DIR:resnet_lib>")
target_compile_options(resnet_python PRIVATE ${RESNET_WARNINGS})
# The library's public headers and, like the tool, every floor's (dnnl/ops.h: the OpenMP thread count).
target_link_libraries(resnet_python PRIVATE resnet_lib resnet_cli_headers fmt::fmt)

# The pure-Python files of the package, next to the module.
file(GLOB RESNET_PYTHON_FILES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/python/resnet_cpp/*)
foreach(file IN LISTS RESNET_PYTHON_FILES)
  get_filename_component(name ${file} NAME)
  configure_file(${file} ${RESNET_PYTHON_PACKAGE_DIR}/${name} COPYONLY)
endforeach()

# The type stubs of the module and its submodule `models` (nanobind's stubgen imports the built module):
# resnet_cpp/_core/__init__.pyi and resnet_cpp/_core/models.pyi, read by editors and type checkers.
set(RESNET_PYTHON_STUBS ${RESNET_PYTHON_PACKAGE_DIR}/_core/__init__.pyi ${RESNET_PYTHON_PACKAGE_DIR}/_core/models.pyi)
nanobind_add_stub(resnet_python_stub MODULE resnet_cpp._core RECURSIVE OUTPUT_PATH ${RESNET_PYTHON_PACKAGE_DIR}
                  OUTPUT ${RESNET_PYTHON_STUBS} PYTHON_PATH ${PROJECT_BINARY_DIR}/python DEPENDS resnet_python)

install(TARGETS resnet_python LIBRARY DESTINATION resnet_cpp COMPONENT python EXCLUDE_FROM_ALL)
install(TARGETS resnet_lib LIBRARY DESTINATION resnet_cpp COMPONENT python NAMELINK_SKIP EXCLUDE_FROM_ALL)
install(FILES ${RESNET_PYTHON_FILES} DESTINATION resnet_cpp COMPONENT python EXCLUDE_FROM_ALL)
install(FILES ${RESNET_PYTHON_STUBS} DESTINATION resnet_cpp/_core COMPONENT python EXCLUDE_FROM_ALL)
# oneDNN from the PyPI wheels (.deps/) is not on the system: the package carries it (libresnet's RPATH $ORIGIN).
get_target_property(dnnl_location DNNL::dnnl IMPORTED_LOCATION_RELEASE)
if(dnnl_location MATCHES "/\\.deps/")
  get_filename_component(dnnl_dir ${dnnl_location} DIRECTORY)
  install(FILES ${dnnl_dir}/libdnnl.so.3 DESTINATION resnet_cpp COMPONENT python EXCLUDE_FROM_ALL)
endif()
